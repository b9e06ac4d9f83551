import java.io.IOException;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.RSAPrivateKey;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Cipher;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;

/**
 * Verifies a 运之盟-format callback from notify-bridge (RSA) and decrypts its
 * encrypted fields.
 *
 * <pre>
 *   java Verify.java --public-key BRIDGE_PUBLIC.pem --private-key YOUR_PRIVATE.pem \
 *       [--decrypt /json/pointer]... [--oaep] [--max-age SECONDS] REQUEST_FILE...
 * </pre>
 *
 * A REQUEST_FILE holds the request as received: optional request line, header lines, one
 * blank line, then the body byte for byte (see docs/integrators/README.md). Exit status: 0
 * when every signature holds, 1 when one does not, 2 on bad usage or an unreadable file.
 *
 * The rule: X-Signature is base64 of an RSA signature (SHA256withRSA, PKCS#1 v1.5) made with
 * our private key over X-Timestamp + X-Nonce + body, run together with nothing between them
 * and the body exactly as received. Verify it with our public key (ivs_public_key in seed
 * 000's words). Only then decrypt each agreed field (--decrypt, a JSON pointer such as
 * /codePwd) with your private key (sign_secret_key): base64-decode, split into key-sized
 * blocks, decrypt each (RSA/ECB/PKCS1Padding, or OAEP with SHA-256 and MGF1-SHA-256 with
 * --oaep), join, UTF-8. Keys: PEM (PKCS#8 or PKCS#1) or bare base64 DER, as Java shops
 * often keep them. Against replays, pass --max-age 300 and remember each X-Nonce that long.
 * JDK 17 only; the JDK has no JSON reader, so a small one is at the end of this file.
 */
public class Verify {
    static PublicKey publicKey;
    static PrivateKey privateKey;
    static final List<String> pointers = new ArrayList<>();
    static boolean oaep;
    static double maxAge;

    public static void main(String[] args) throws Exception {
        List<String> files = new ArrayList<>();
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--public-key" -> publicKey = loadPublic(args[++i]);
                    case "--private-key" -> privateKey = loadPrivate(args[++i]);
                    case "--decrypt" -> pointers.add(args[++i]);
                    case "--oaep" -> oaep = true;
                    case "--max-age" -> maxAge = Double.parseDouble(args[++i]);
                    default -> files.add(args[i]);
                }
            }
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            System.err.println("cannot load the arguments: " + e);
            System.exit(2);
        }
        if (publicKey == null || (!pointers.isEmpty() && privateKey == null) || files.isEmpty()) {
            System.err.println("usage: java Verify.java --public-key BRIDGE_PUBLIC.pem [--private-key YOUR_PRIVATE.pem]"
                    + " [--decrypt /pointer]... [--oaep] [--max-age SECONDS] REQUEST_FILE...");
            System.exit(2);
        }
        int status = 0;
        for (String path : files) {
            String[] result;
            try {
                result = verify(path);
            } catch (IOException | IllegalArgumentException e) {
                System.out.println(path + ": cannot read: " + e.getMessage());
                System.exit(2);
                return;
            }
            boolean ok = result[0] != null;
            System.out.println(path + ": " + (ok ? "signature OK" : "signature INVALID") + " (" + result[1] + ")");
            status = ok ? status : 1;
        }
        System.exit(status);
    }

    /** {non-null when it holds, detail}. */
    static String[] verify(String path) throws IOException {
        Request request = readRequest(path);
        for (String name : List.of("x-timestamp", "x-nonce", "x-signature")) {
            if (request.header(name).isEmpty()) {
                return new String[] {null, "header " + name + " is missing"};
            }
        }
        try {
            Signature verifier = Signature.getInstance("SHA256withRSA");
            verifier.initVerify(publicKey);
            verifier.update((request.header("x-timestamp") + request.header("x-nonce")).getBytes(StandardCharsets.UTF_8));
            verifier.update(request.body());
            if (!verifier.verify(Base64.getDecoder().decode(request.header("x-signature")))) {
                return new String[] {null, "X-Signature does not match"};
            }
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            return new String[] {null, "X-Signature does not match"};
        }
        if (maxAge > 0) {
            double age = Math.abs(System.currentTimeMillis() - Double.parseDouble(request.header("x-timestamp"))) / 1000;
            if (age > maxAge) {
                return new String[] {null, String.format("X-Timestamp is %.0f s away from now (a replay?)", age)};
            }
        }
        StringBuilder detail = new StringBuilder("X-EventCode " + request.header("x-eventcode")
                + ", X-Notify-Id " + request.header("x-notify-id"));
        Object doc = Json.parse(request.text());
        for (String pointer : pointers) {
            if (pointerGet(doc, pointer) instanceof String value) {
                try {
                    detail.append("\n  ").append(pointer).append(" = ").append(decrypt(value));
                } catch (GeneralSecurityException | IllegalArgumentException e) {
                    return new String[] {null, pointer + " does not decrypt: " + e.getMessage()};
                }
            }
        }
        return new String[] {"ok", detail.toString()};
    }

    /** The value at an RFC 6901 JSON pointer, or null. */
    static Object pointerGet(Object doc, String pointer) {
        String[] tokens = pointer.split("/", -1);
        for (int i = 1; i < tokens.length && doc != null; i++) {
            String token = tokens[i].replace("~1", "/").replace("~0", "~");
            if (doc instanceof Map<?, ?> map) {
                doc = map.get(token);
            } else if (doc instanceof List<?> list && token.matches("[0-9]+") && Integer.parseInt(token) < list.size()) {
                doc = list.get(Integer.parseInt(token));
            } else {
                doc = null;
            }
        }
        return doc;
    }

    /** Undoes the bridge's block-wise RSA encryption of one field value. */
    static String decrypt(String text) throws GeneralSecurityException {
        byte[] cipherText = Base64.getMimeDecoder().decode(text);
        int size = (((RSAPrivateKey) privateKey).getModulus().bitLength() + 7) / 8;
        if (cipherText.length % size != 0) {
            throw new IllegalArgumentException("not a whole number of " + size + "-byte blocks");
        }
        Cipher cipher;
        if (oaep) {
            // Spell the parameters out: Java's "OAEPWithSHA-256AndMGF1Padding" uses MGF1-SHA-1.
            cipher = Cipher.getInstance("RSA/ECB/OAEPPadding");
            cipher.init(Cipher.DECRYPT_MODE, privateKey, new OAEPParameterSpec(
                    "SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT));
        } else {
            cipher = Cipher.getInstance("RSA/ECB/PKCS1Padding");
            cipher.init(Cipher.DECRYPT_MODE, privateKey);
        }
        ByteArrayOutputStream plain = new ByteArrayOutputStream();
        for (int at = 0; at < cipherText.length; at += size) {
            plain.writeBytes(cipher.doFinal(cipherText, at, size));
        }
        return plain.toString(StandardCharsets.UTF_8);
    }

    static PublicKey loadPublic(String path) throws IOException, GeneralSecurityException {
        String text = Files.readString(Path.of(path));
        byte[] der = pemBody(text);
        if (text.contains("BEGIN RSA PUBLIC KEY")) {
            // PKCS#1 → X.509 SubjectPublicKeyInfo, which is what KeyFactory reads.
            der = der(0x30, concat(RSA_ALGORITHM, der(0x03, concat(new byte[] {0}, der))));
        }
        return KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(der));
    }

    static PrivateKey loadPrivate(String path) throws IOException, GeneralSecurityException {
        String text = Files.readString(Path.of(path));
        byte[] der = pemBody(text);
        if (text.contains("BEGIN RSA PRIVATE KEY")) {
            // PKCS#1 → PKCS#8, which is what KeyFactory reads.
            der = der(0x30, concat(new byte[] {2, 1, 0}, RSA_ALGORITHM, der(0x04, der)));
        }
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    /** AlgorithmIdentifier { rsaEncryption, NULL }. */
    static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86,
        (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};

    /** The DER inside PEM armour, or a bare base64 key. */
    static byte[] pemBody(String text) {
        String base64 = text.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return Base64.getDecoder().decode(base64);
    }

    static byte[] der(int tag, byte[] content) {
        byte[] length = BigInteger.valueOf(content.length).toByteArray();
        if (length[0] == 0) {
            length = Arrays.copyOfRange(length, 1, length.length);
        }
        byte[] header = content.length < 128
                ? new byte[] {(byte) tag, (byte) content.length}
                : concat(new byte[] {(byte) tag, (byte) (0x80 | length.length)}, length);
        return concat(header, content);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    /** A raw request file: headers (lower-case names) and the exact body. */
    record Request(Map<String, String> headers, byte[] body) {
        String header(String name) {
            return headers.getOrDefault(name, "");
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    static Request readRequest(String path) throws IOException {
        byte[] data = Files.readAllBytes(Path.of(path));
        int headEnd = -1;
        int bodyStart = -1;
        if (startsWith(data, 0, "\r\n") || startsWith(data, 0, "\n")) {
            headEnd = 0;
            bodyStart = data[0] == '\r' ? 2 : 1;
        }
        for (int i = 0; i < data.length && headEnd < 0; i++) {
            if (data[i] == '\n' && (startsWith(data, i + 1, "\r\n") || startsWith(data, i + 1, "\n"))) {
                headEnd = i;
                bodyStart = i + 1 + (data[i + 1] == '\r' ? 2 : 1);
            }
        }
        if (headEnd < 0) {
            throw new IOException("no blank line between the headers and the body");
        }
        Map<String, String> headers = new LinkedHashMap<>();
        String[] lines = new String(data, 0, headEnd, StandardCharsets.UTF_8).split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].replaceAll("\r$", "");
            int colon = line.indexOf(':');
            if (colon > 0 && !line.substring(0, colon).matches(".*\\s.*")) {
                headers.put(line.substring(0, colon).toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
            } else if (i > 0 && !line.isEmpty()) {
                throw new IOException("line " + (i + 1) + " is not a header");
            }
        }
        return new Request(headers, Arrays.copyOfRange(data, bodyStart, data.length));
    }

    static boolean startsWith(byte[] data, int at, String prefix) {
        if (at + prefix.length() > data.length) {
            return false;
        }
        for (int i = 0; i < prefix.length(); i++) {
            if (data[at + i] != prefix.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** A JSON number, kept as the exact text it arrived in (0.10 stays 0.10). */
    record Num(String text) {
    }

    /**
     * A small JSON reader (the JDK has none): objects keep their member order
     * (LinkedHashMap), numbers keep their text, null is Java null.
     */
    static final class Json {
        private static final Pattern NUMBER = Pattern.compile("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?");
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String text) {
            Json p = new Json(text);
            Object value = p.value();
            p.space();
            if (p.i != p.s.length()) {
                throw p.error("data after the JSON value");
            }
            return value;
        }

        private Object value() {
            space();
            if (i >= s.length()) {
                throw error("unexpected end");
            }
            switch (s.charAt(i)) {
                case '{':
                    return object();
                case '[':
                    return array();
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    Matcher m = NUMBER.matcher(s).region(i, s.length());
                    if (!m.lookingAt()) {
                        throw error("unexpected character");
                    }
                    i = m.end();
                    return new Num(m.group());
            }
        }

        private Map<String, Object> object() {
            Map<String, Object> map = new LinkedHashMap<>();
            i++;
            space();
            if (peek('}')) {
                i++;
                return map;
            }
            while (true) {
                space();
                if (!peek('"')) {
                    throw error("expected a key");
                }
                String key = string();
                space();
                expect(':');
                // A repeated key keeps its first place with its last value, as in PHP.
                map.put(key, value());
                space();
                if (peek(',')) {
                    i++;
                    continue;
                }
                expect('}');
                return map;
            }
        }

        private List<Object> array() {
            List<Object> list = new ArrayList<>();
            i++;
            space();
            if (peek(']')) {
                i++;
                return list;
            }
            while (true) {
                list.add(value());
                space();
                if (peek(',')) {
                    i++;
                    continue;
                }
                expect(']');
                return list;
            }
        }

        private String string() {
            StringBuilder out = new StringBuilder();
            i++;
            while (i < s.length()) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return out.toString();
                }
                if (c < 0x20) {
                    throw error("control character in a string");
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                if (i >= s.length()) {
                    break;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case '"', '\\', '/' -> out.append(e);
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'u' -> {
                        if (i + 4 > s.length()) {
                            throw error("short \\u escape");
                        }
                        out.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> throw error("bad escape");
                }
            }
            throw error("unterminated string");
        }

        private Object literal(String word, Object value) {
            if (!s.startsWith(word, i)) {
                throw error("unexpected character");
            }
            i += word.length();
            return value;
        }

        private void space() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
        }

        private boolean peek(char c) {
            return i < s.length() && s.charAt(i) == c;
        }

        private void expect(char c) {
            if (!peek(c)) {
                throw error("expected '" + c + "'");
            }
            i++;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("not JSON: " + what + " at character " + i);
        }
    }
}

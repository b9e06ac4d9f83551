import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Verifies a 商战网络-format callback from notify-bridge (sorted-chars md5).
 *
 * <pre>
 *   java Verify.java --secret SECRET REQUEST_FILE...
 *   java Verify.java --secret-file FILE REQUEST_FILE...
 * </pre>
 *
 * A REQUEST_FILE holds the request as received: optional request line, header lines, one
 * blank line, then the body byte for byte (see docs/integrators/README.md). Exit status: 0
 * when every signature holds, 1 when one does not, 2 on bad usage or an unreadable file.
 *
 * The rule (the seed's PHP getSign): decode the JSON body, remove {@code sign}, serialise
 * the rest exactly as PHP's json_encode($fields, 320) does, split that text into characters,
 * sort them by code point, join, append the secret, md5 the UTF-8 bytes, lower-case hex.
 * json_encode(…, 320) = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES: no spaces, Chinese
 * and "/" written as they are, numbers as PHP prints them; {@link #phpJson} reproduces it.
 * JDK 17 only; the JDK has no JSON reader, so a small one is at the end of this file.
 */
public class Verify {
    public static void main(String[] args) throws Exception {
        String secret = null;
        List<String> files = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--secret" -> secret = i + 1 < args.length ? args[++i] : null;
                case "--secret-file" -> secret = i + 1 < args.length
                        ? Files.readString(Path.of(args[++i])).replaceAll("[\r\n]+$", "")
                        : null;
                default -> files.add(args[i]);
            }
        }
        if (secret == null || secret.isEmpty() || files.isEmpty()) {
            System.err.println("usage: java Verify.java (--secret SECRET | --secret-file FILE) REQUEST_FILE...");
            System.exit(2);
        }
        int status = 0;
        for (String path : files) {
            String[] result;
            try {
                result = verify(path, secret);
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
    static String[] verify(String path, String secret) throws IOException, NoSuchAlgorithmException {
        Request request = readRequest(path);
        if (!(Json.parse(request.text()) instanceof Map<?, ?> body)) {
            throw new IllegalArgumentException("the body is not a JSON object");
        }
        if (!(body.get("sign") instanceof String given)) {
            return new String[] {null, "no sign field"};
        }
        Map<Object, Object> fields = new LinkedHashMap<>(body);
        fields.remove("sign");
        StringBuilder json = new StringBuilder();
        phpJson(fields, json);
        int[] chars = json.codePoints().toArray();
        Arrays.sort(chars);
        String toSign = new String(chars, 0, chars.length) + secret;
        byte[] digest = MessageDigest.getInstance("MD5").digest(toSign.getBytes(StandardCharsets.UTF_8));
        String expected = HexFormat.of().formatHex(digest);
        if (!MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8), given.getBytes(StandardCharsets.UTF_8))) {
            return new String[] {null, "sign does not match"};
        }
        return new String[] {"ok", "X-Notify-Id " + request.header("x-notify-id") + ", status " + body.get("status")};
    }

    /** Appends what PHP's json_encode(json_decode($body, true), 320) prints for {@code v}. */
    static void phpJson(Object v, StringBuilder out) {
        if (v == null) {
            out.append("null");
        } else if (v instanceof Boolean b) {
            out.append(b);
        } else if (v instanceof Num n) {
            out.append(phpNumber(n.text()));
        } else if (v instanceof String s) {
            phpString(s, out);
        } else if (v instanceof List<?> list) {
            phpList(list, out);
        } else {
            Map<?, ?> map = (Map<?, ?>) v;
            // json_decode(.., true) makes objects PHP arrays: keys exactly "0".."n-1" in
            // order (and {}) come back out as a JSON list.
            int index = 0;
            boolean isList = true;
            for (Object key : map.keySet()) {
                isList &= key.equals(Integer.toString(index++));
            }
            if (isList) {
                phpList(new ArrayList<>(map.values()), out);
                return;
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                out.append(first ? "" : ",");
                first = false;
                phpString((String) e.getKey(), out);
                out.append(':');
                phpJson(e.getValue(), out);
            }
            out.append('}');
        }
    }

    static void phpList(List<?> list, StringBuilder out) {
        out.append('[');
        for (int i = 0; i < list.size(); i++) {
            out.append(i > 0 ? "," : "");
            phpJson(list.get(i), out);
        }
        out.append(']');
    }

    static void phpString(String s, StringBuilder out) {
        out.append('"');
        s.codePoints().forEach(c -> {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        out.append(String.format("\\u%04x", c));
                    } else {
                        out.appendCodePoint(c);
                    }
                }
            }
        });
        out.append('"');
    }

    /**
     * A JSON number as PHP prints it: an integer that fits 64 bits as is; anything else as a
     * float with the shortest digits that read back the same (the nearest such), no ".0" on
     * whole values, exponent form (1.0e-5, 1.0e+17) below 1e-4 and from 1e17.
     */
    static String phpNumber(String text) {
        if (text.indexOf('.') < 0 && text.indexOf('e') < 0 && text.indexOf('E') < 0) {
            try {
                return Long.toString(Long.parseLong(text));
            } catch (NumberFormatException beyond64Bits) {
                // PHP makes it a float: fall through.
            }
        }
        double f = Double.parseDouble(text);
        if (Double.isInfinite(f)) {
            throw new IllegalArgumentException("number " + text + " overflows a PHP float");
        }
        String sign = Double.doubleToRawLongBits(f) < 0 ? "-" : "";
        f = Math.abs(f);
        if (f == 0) {
            return sign + "0";
        }
        // Double.toString is not always the shortest on JDK 17: search the length exactly.
        BigDecimal exact = new BigDecimal(f);
        String digits = null;
        int decpt = 0;
        for (int p = 1; digits == null; p++) {
            for (RoundingMode mode : new RoundingMode[] {RoundingMode.HALF_EVEN, RoundingMode.FLOOR, RoundingMode.CEILING}) {
                BigDecimal r = exact.round(new MathContext(p, mode));
                if (r.doubleValue() == f) {
                    r = r.stripTrailingZeros();
                    digits = r.unscaledValue().toString();
                    decpt = digits.length() - r.scale();
                    break;
                }
            }
        }
        if (decpt < -3 || decpt > 17) {
            String rest = digits.length() > 1 ? digits.substring(1) : "0";
            return sign + digits.charAt(0) + "." + rest + "e" + (decpt > 0 ? "+" : "-") + Math.abs(decpt - 1);
        }
        if (decpt <= 0) {
            return sign + "0." + "0".repeat(-decpt) + digits;
        }
        if (digits.length() <= decpt) {
            return sign + digits + "0".repeat(decpt - digits.length());
        }
        return sign + digits.substring(0, decpt) + "." + digits.substring(decpt);
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

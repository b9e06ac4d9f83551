import java.io.IOException;
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
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Verifies an EM-format callback from notify-bridge (sorted-params, md5, lower-case hex).
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
 * The body is {"appid", "request_data", "timestamp", "sign"} (EM's format). The
 * rule: take the top-level fields except {@code sign} (appid, request_data, timestamp), drop
 * those whose value is null or "", sort the keys by byte order, join them as k=v with &amp;
 * (values as they are: request_data is its JSON text, not URL-encoded), append
 * "&amp;key=" + secret, md5 the UTF-8 bytes, lower-case hex.
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
        Map<String, Object> fields = fields(request);
        if (!(fields.get("sign") instanceof String given)) {
            return new String[] {null, "no sign field"};
        }
        byte[] digest = MessageDigest.getInstance("MD5")
                .digest(stringToSign(fields, secret).getBytes(StandardCharsets.UTF_8));
        String expected = HexFormat.of().withLowerCase().formatHex(digest);
        if (!MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8), given.getBytes(StandardCharsets.UTF_8))) {
            return new String[] {null, "sign does not match"};
        }
        // Dispatch on request_data's notify_type once the signature holds.
        Object data = fields.get("request_data") instanceof String text ? Json.parse(text) : null;
        Object kind = data instanceof Map<?, ?> m ? m.get("notify_type") : null;
        return new String[] {"ok", "X-Notify-Id " + request.header("x-notify-id") + ", notify_type " + kind};
    }

    static Map<String, Object> fields(Request request) {
        if (request.header("content-type").contains("x-www-form-urlencoded")) {
            Map<String, Object> fields = new LinkedHashMap<>();
            for (String pair : request.text().split("&")) {
                String[] kv = pair.split("=", 2);
                fields.put(decode(kv[0]), kv.length > 1 ? decode(kv[1]) : "");
            }
            return fields;
        }
        if (!(Json.parse(request.text()) instanceof Map<?, ?> map)) {
            throw new IllegalArgumentException("the body is not a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> fields = (Map<String, Object>) map;
        return fields;
    }

    static String decode(String s) {
        return java.net.URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    static String stringToSign(Map<String, Object> fields, String secret) {
        // Keys in byte order: compare UTF-8 bytes (String.compareTo is UTF-16 order).
        Map<String, String> sorted = new TreeMap<>((a, b) -> Arrays.compare(
                a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8)));
        fields.forEach((k, v) -> {
            if (!k.equals("sign") && v != null && !"".equals(v)) {
                sorted.put(k, v instanceof String s ? s : compact(v));
            }
        });
        StringBuilder out = new StringBuilder();
        sorted.forEach((k, v) -> out.append(out.length() > 0 ? "&" : "").append(k).append('=').append(v));
        return out.append("&key=").append(secret).toString();
    }

    /** Compact JSON text, as the bridge writes a nested value. */
    static String compact(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof Num n) {
            return n.text();
        }
        if (v instanceof Boolean b) {
            return b.toString();
        }
        if (v instanceof String s) {
            StringBuilder out = new StringBuilder("\"");
            for (char c : s.toCharArray()) {
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    default -> out.append(c < 0x20 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
                }
            }
            return out.append('"').toString();
        }
        StringBuilder out = new StringBuilder();
        if (v instanceof List<?> list) {
            out.append('[');
            for (Object item : list) {
                out.append(out.length() > 1 ? "," : "").append(compact(item));
            }
            return out.append(']').toString();
        }
        out.append('{');
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            out.append(out.length() > 1 ? "," : "").append(compact(e.getKey())).append(':').append(compact(e.getValue()));
        }
        return out.append('}').toString();
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

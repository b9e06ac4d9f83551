<?php
// Verify an EM-format callback from notify-bridge (sorted-params, md5, lower-case hex).
//
// Usage:
//   php verify.php --secret SECRET REQUEST_FILE...
//   php verify.php --secret-file FILE REQUEST_FILE...
//
// A REQUEST_FILE holds the request as received: optional request line, header lines, one
// blank line, then the body byte for byte (see docs/integrators/README.md). In your own
// endpoint the body is file_get_contents('php://input'). Exit status: 0 when every
// signature holds, 1 when one does not, 2 on bad usage or an unreadable file.
//
// The body is {"appid", "request_data", "timestamp", "sign"} (EM's format). The
// rule: take the top-level fields except `sign` (appid, request_data, timestamp), drop
// those whose value is null or "", sort the keys by byte order, join them as k=v with &
// (values as they are: request_data is its JSON text, not URL-encoded), append
// "&key=" + secret, md5 the UTF-8 bytes, lower-case hex. All three are strings.
// PHP core only.

const USAGE = "usage: php verify.php (--secret SECRET | --secret-file FILE) REQUEST_FILE...\n";

/** [headers with lower-case names, exact body] of a raw request file. */
function read_request(string $path): array
{
    $data = @file_get_contents($path);
    if ($data === false) {
        throw new RuntimeException("cannot read $path");
    }
    if (!preg_match('/\A(?:(.*?)\r?\n)?\r?\n/s', $data, $m)) {
        throw new RuntimeException('no blank line between the headers and the body');
    }
    $headers = [];
    foreach (preg_split('/\r?\n/', $m[1] ?? '') as $i => $line) {
        if (preg_match('/^([^\s:]+):(.*)$/', $line, $h)) {
            $headers[strtolower($h[1])] = trim($h[2]);
        } elseif ($i > 0 && $line !== '') {
            throw new RuntimeException('line ' . ($i + 1) . ' is not a header');
        }
    }
    return [$headers, substr($data, strlen($m[0]))];
}

function fields(array $headers, string $body): array
{
    if (str_contains($headers['content-type'] ?? '', 'x-www-form-urlencoded')) {
        $fields = [];
        foreach (explode('&', $body) as $pair) {
            [$k, $v] = array_pad(explode('=', $pair, 2), 2, '');
            $fields[urldecode($k)] = urldecode($v);
        }
        return $fields;
    }
    $fields = json_decode($body, true, 512, JSON_BIGINT_AS_STRING);
    if (!is_array($fields)) {
        throw new RuntimeException('the body is not a JSON object');
    }
    return $fields;
}

function string_to_sign(array $fields, string $secret): string
{
    unset($fields['sign']);
    $fields = array_filter($fields, fn ($v) => $v !== null && $v !== '');
    ksort($fields, SORT_STRING); // byte order
    $pairs = [];
    foreach ($fields as $k => $v) {
        $pairs[] = $k . '=' . (is_string($v) ? $v : json_encode($v, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES));
    }
    return implode('&', $pairs) . '&key=' . $secret;
}

function verify(string $path, string $secret): array
{
    [$headers, $body] = read_request($path);
    $fields = fields($headers, $body);
    $given = $fields['sign'] ?? null;
    if (!is_string($given)) {
        return [false, 'no sign field'];
    }
    $expected = md5(string_to_sign($fields, $secret));
    if (!hash_equals($expected, $given)) {
        return [false, 'sign does not match'];
    }
    // Dispatch on request_data's notify_type once the signature holds.
    $data = json_decode((string) ($fields['request_data'] ?? ''), true);
    $kind = is_array($data) ? ($data['notify_type'] ?? '-') : '-';
    return [true, 'X-Notify-Id ' . ($headers['x-notify-id'] ?? '-') . ", notify_type $kind"];
}

$secret = null;
$files = [];
for ($i = 1; $i < $argc; $i++) {
    if ($argv[$i] === '--secret') {
        $secret = $argv[++$i] ?? null;
    } elseif ($argv[$i] === '--secret-file') {
        $secret = rtrim((string) @file_get_contents($argv[++$i] ?? ''), "\r\n");
    } else {
        $files[] = $argv[$i];
    }
}
if ($secret === null || $secret === '' || !$files) {
    fwrite(STDERR, USAGE);
    exit(2);
}
$status = 0;
foreach ($files as $path) {
    try {
        [$ok, $detail] = verify($path, $secret);
    } catch (RuntimeException $e) {
        echo "$path: cannot read: {$e->getMessage()}\n";
        exit(2);
    }
    echo $path, ': ', $ok ? 'signature OK' : 'signature INVALID', " ($detail)\n";
    if (!$ok) {
        $status = 1;
    }
}
exit($status);

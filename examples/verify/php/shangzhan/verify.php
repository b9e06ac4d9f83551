<?php
// Verify a 商战网络-format callback from notify-bridge (sorted-chars md5).
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
// The rule is the seed's getSign(): decode the JSON body into an array, remove `sign`,
// json_encode($fields, 320) (JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), split the
// text into UTF-8 characters, sort them, join, append the secret, md5, lower-case hex.
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

/** The seed's getSign(), over the decoded body minus `sign`. */
function get_sign(array $fields, string $secret): string
{
    unset($fields['sign']);
    $json = json_encode($fields, 320);
    if ($json === false) {
        throw new RuntimeException('json_encode failed: ' . json_last_error_msg());
    }
    $chars = preg_split('/(?<!^)(?!$)/u', $json);
    // Byte order of UTF-8 characters is code-point order, as the seed's plain sort() gives.
    sort($chars, SORT_STRING);
    return strtolower(md5(implode('', $chars) . $secret));
}

function verify(string $path, string $secret): array
{
    [$headers, $body] = read_request($path);
    $fields = json_decode($body, true);
    if (!is_array($fields)) {
        throw new RuntimeException('the body is not a JSON object');
    }
    $given = $fields['sign'] ?? null;
    if (!is_string($given)) {
        return [false, 'no sign field'];
    }
    if (!hash_equals(get_sign($fields, $secret), $given)) {
        return [false, 'sign does not match'];
    }
    return [true, 'X-Notify-Id ' . ($headers['x-notify-id'] ?? '-') . ', status ' . (is_string($fields['status'] ?? null) ? $fields['status'] : '-')];
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

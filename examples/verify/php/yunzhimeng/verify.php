<?php
// Verify a 运之盟-format callback from notify-bridge (RSA) and decrypt its fields.
//
// Usage:
//   php verify.php --public-key BRIDGE_PUBLIC.pem --private-key YOUR_PRIVATE.pem \
//       [--decrypt /json/pointer]... [--max-age SECONDS] REQUEST_FILE...
//
// A REQUEST_FILE holds the request as received: optional request line, header lines, one
// blank line, then the body byte for byte (see docs/integrators/README.md). In your own
// endpoint the body is file_get_contents('php://input') and the headers are
// $_SERVER['HTTP_X_TIMESTAMP'] and so on. Exit status: 0 when every signature holds, 1 when
// one does not, 2 on bad usage or an unreadable file.
//
// The rule: X-Signature is base64 of an RSA signature (SHA256withRSA, PKCS#1 v1.5) made with
// our private key over X-Timestamp . X-Nonce . body, with nothing between them and the body
// exactly as received. Verify it with our public key (ivs_public_key in 运之盟's words).
// Only then decrypt each agreed field (--decrypt, a JSON pointer such as /codePwd) with your
// private key (sign_secret_key): base64-decode, split into key-sized blocks, decrypt each
// with PKCS#1 v1.5 padding, join. (PHP's openssl before 8.5 cannot do OAEP-SHA256; a channel
// set to oaep-sha256 needs another language's verifier.)
// Against replays, pass --max-age 300 and remember each X-Nonce for that long.
// PHP core with the openssl extension.

const USAGE = "usage: php verify.php --public-key BRIDGE_PUBLIC.pem [--private-key YOUR_PRIVATE.pem] [--decrypt /pointer]... [--max-age SECONDS] REQUEST_FILE...\n";

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

/** The value at an RFC 6901 JSON pointer, or null. */
function pointer_get($doc, string $pointer)
{
    foreach (array_slice(explode('/', $pointer), 1) as $token) {
        $token = str_replace(['~1', '~0'], ['/', '~'], $token);
        if (!is_array($doc) || !array_key_exists($token, $doc)) {
            return null;
        }
        $doc = $doc[$token];
    }
    return $doc;
}

/** Undoes the bridge's block-wise RSA encryption of one field value. */
function decrypt_field($key, string $text): ?string
{
    $cipher = base64_decode(preg_replace('/\s+/', '', $text), true);
    $size = intdiv(openssl_pkey_get_details($key)['bits'] + 7, 8);
    if ($cipher === false || $cipher === '' || strlen($cipher) % $size !== 0) {
        return null;
    }
    $plain = '';
    foreach (str_split($cipher, $size) as $block) {
        if (!openssl_private_decrypt($block, $part, $key, OPENSSL_PKCS1_PADDING)) {
            return null;
        }
        $plain .= $part;
    }
    return $plain;
}

function verify(string $path, array $opts): array
{
    [$headers, $body] = read_request($path);
    foreach (['x-timestamp', 'x-nonce', 'x-signature'] as $name) {
        if (($headers[$name] ?? '') === '') {
            return [false, "header $name is missing"];
        }
    }
    $signed = $headers['x-timestamp'] . $headers['x-nonce'] . $body;
    $signature = base64_decode($headers['x-signature'], true);
    if ($signature === false || openssl_verify($signed, $signature, $opts['public'], OPENSSL_ALGO_SHA256) !== 1) {
        return [false, 'X-Signature does not match'];
    }
    if ($opts['max_age'] !== null) {
        $age = abs(microtime(true) * 1000 - (float) $headers['x-timestamp']) / 1000;
        if ($age > $opts['max_age']) {
            return [false, sprintf('X-Timestamp is %.0f s away from now (a replay?)', $age)];
        }
    }
    $lines = ['X-EventCode ' . ($headers['x-eventcode'] ?? '-') . ', X-Notify-Id ' . ($headers['x-notify-id'] ?? '-')];
    $doc = json_decode($body, true);
    foreach ($opts['pointers'] as $pointer) {
        $value = pointer_get($doc, $pointer);
        if (!is_string($value)) {
            continue;
        }
        $plain = decrypt_field($opts['private'], $value);
        if ($plain === null) {
            return [false, "$pointer does not decrypt"];
        }
        $lines[] = "$pointer = $plain";
    }
    return [true, implode("\n  ", $lines)];
}

$opts = ['public' => null, 'private' => null, 'pointers' => [], 'max_age' => null];
$files = [];
for ($i = 1; $i < $argc; $i++) {
    $arg = $argv[$i];
    if ($arg === '--public-key') {
        $opts['public'] = openssl_pkey_get_public((string) @file_get_contents($argv[++$i] ?? ''));
    } elseif ($arg === '--private-key') {
        $opts['private'] = openssl_pkey_get_private((string) @file_get_contents($argv[++$i] ?? ''));
    } elseif ($arg === '--decrypt') {
        $opts['pointers'][] = $argv[++$i] ?? '';
    } elseif ($arg === '--max-age') {
        $opts['max_age'] = (float) ($argv[++$i] ?? 0);
    } else {
        $files[] = $arg;
    }
}
if (!$opts['public'] || ($opts['pointers'] && !$opts['private']) || !$files) {
    fwrite(STDERR, USAGE);
    exit(2);
}
$status = 0;
foreach ($files as $path) {
    try {
        [$ok, $detail] = verify($path, $opts);
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

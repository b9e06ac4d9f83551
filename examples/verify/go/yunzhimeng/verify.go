// Command verify checks a 运之盟-format callback from notify-bridge (RSA) and
// decrypts its encrypted fields.
//
// Usage:
//
//	go run verify.go --public-key BRIDGE_PUBLIC.pem --private-key YOUR_PRIVATE.pem \
//	    [--decrypt /json/pointer]... [--oaep] [--max-age SECONDS] REQUEST_FILE...
//
// A REQUEST_FILE holds the request as received: optional request line, header lines, one
// blank line, then the body byte for byte (see docs/integrators/README.md). Exit status:
// 0 when every signature holds, 1 when one does not, 2 on bad usage or an unreadable file.
//
// The rule: X-Signature is base64 of an RSA signature (SHA256withRSA, PKCS#1 v1.5) made
// with our private key over X-Timestamp + X-Nonce + body, run together with nothing between
// them and the body exactly as received. Verify it with our public key (ivs_public_key in
// 运之盟's words). Only then decrypt each agreed field (--decrypt, a JSON pointer such as
// /codePwd) with your private key (sign_secret_key): base64-decode, split into key-sized
// blocks, decrypt each (PKCS#1 v1.5, or OAEP-SHA256 with --oaep), join, UTF-8.
// Against replays, pass --max-age 300 and remember each X-Nonce for that long.
// Go standard library only.
package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

const usage = "usage: go run verify.go --public-key BRIDGE_PUBLIC.pem [--private-key YOUR_PRIVATE.pem] [--decrypt /pointer]... [--oaep] [--max-age SECONDS] REQUEST_FILE..."

type options struct {
	public   *rsa.PublicKey
	private  *rsa.PrivateKey
	pointers []string
	oaep     bool
	maxAge   float64 // seconds; 0 = not checked
	files    []string
}

func main() {
	opts, err := parseArgs(os.Args[1:])
	if err != nil || opts.public == nil || len(opts.files) == 0 ||
		(len(opts.pointers) > 0 && opts.private == nil) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	status := 0
	for _, path := range opts.files {
		ok, detail, err := verify(path, opts)
		if err != nil {
			fmt.Printf("%s: cannot read: %v\n", path, err)
			os.Exit(2)
		}
		verdict := "signature OK"
		if !ok {
			verdict, status = "signature INVALID", 1
		}
		fmt.Printf("%s: %s (%s)\n", path, verdict, detail)
	}
	os.Exit(status)
}

func parseArgs(args []string) (opts options, err error) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			err = fmt.Errorf("%s needs a value", arg)
			return ""
		}
		switch arg {
		case "--public-key":
			opts.public, err = loadPublic(value())
		case "--private-key":
			opts.private, err = loadPrivate(value())
		case "--decrypt":
			opts.pointers = append(opts.pointers, value())
		case "--oaep":
			opts.oaep = true
		case "--max-age":
			opts.maxAge, err = strconv.ParseFloat(value(), 64)
		default:
			opts.files = append(opts.files, arg)
		}
		if err != nil {
			return opts, err
		}
	}
	return opts, nil
}

func verify(path string, opts options) (bool, string, error) {
	headers, body, err := readRequest(path)
	if err != nil {
		return false, "", err
	}
	for _, name := range []string{"x-timestamp", "x-nonce", "x-signature"} {
		if headers[name] == "" {
			return false, "header " + name + " is missing", nil
		}
	}
	signed := append([]byte(headers["x-timestamp"]+headers["x-nonce"]), body...)
	digest := sha256.Sum256(signed)
	signature, err := base64.StdEncoding.DecodeString(headers["x-signature"])
	if err != nil || rsa.VerifyPKCS1v15(opts.public, crypto.SHA256, digest[:], signature) != nil {
		return false, "X-Signature does not match", nil
	}
	if opts.maxAge > 0 {
		sent, err := strconv.ParseInt(headers["x-timestamp"], 10, 64)
		age := math.Abs(float64(time.Now().UnixMilli()-sent)) / 1000
		if err != nil || age > opts.maxAge {
			return false, fmt.Sprintf("X-Timestamp is %.0f s away from now (a replay?)", age), nil
		}
	}
	lines := []string{"X-EventCode " + orDash(headers["x-eventcode"]) + ", X-Notify-Id " + orDash(headers["x-notify-id"])}
	var doc interface{}
	if err := json.Unmarshal(body, &doc); err != nil {
		return false, "", err
	}
	for _, pointer := range opts.pointers {
		value, isString := pointerGet(doc, pointer).(string)
		if !isString {
			continue
		}
		plain, err := decrypt(opts.private, value, opts.oaep)
		if err != nil {
			return false, pointer + " does not decrypt: " + err.Error(), nil
		}
		lines = append(lines, pointer+" = "+plain)
	}
	return true, strings.Join(lines, "\n  "), nil
}

// pointerGet returns the value at an RFC 6901 JSON pointer, or nil.
func pointerGet(doc interface{}, pointer string) interface{} {
	for _, token := range strings.Split(pointer, "/")[1:] {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		switch node := doc.(type) {
		case map[string]interface{}:
			doc = node[token]
		case []interface{}:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(node) {
				return nil
			}
			doc = node[i]
		default:
			return nil
		}
	}
	return doc
}

// decrypt undoes the bridge's block-wise RSA encryption of one field value.
func decrypt(key *rsa.PrivateKey, text string, oaep bool) (string, error) {
	cipher, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return "", err
	}
	size := key.Size()
	if len(cipher)%size != 0 {
		return "", fmt.Errorf("not a whole number of %d-byte blocks", size)
	}
	var plain []byte
	for at := 0; at < len(cipher); at += size {
		var part []byte
		if oaep {
			part, err = rsa.DecryptOAEP(sha256.New(), nil, key, cipher[at:at+size], nil)
		} else {
			part, err = rsa.DecryptPKCS1v15(nil, key, cipher[at:at+size])
		}
		if err != nil {
			return "", err
		}
		plain = append(plain, part...)
	}
	return string(plain), nil
}

func pemBlock(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New(path + ": no PEM block")
	}
	return block, nil
}

// loadPublic reads a "PUBLIC KEY" (X.509 SubjectPublicKeyInfo) or "RSA PUBLIC KEY" PEM.
func loadPublic(path string) (*rsa.PublicKey, error) {
	block, err := pemBlock(path)
	if err != nil {
		return nil, err
	}
	if block.Type == "RSA PUBLIC KEY" {
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rsaKey, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New(path + ": not an RSA key")
	}
	return rsaKey, nil
}

// loadPrivate reads a "PRIVATE KEY" (PKCS#8) or "RSA PRIVATE KEY" (PKCS#1) PEM.
func loadPrivate(path string) (*rsa.PrivateKey, error) {
	block, err := pemBlock(path)
	if err != nil {
		return nil, err
	}
	if block.Type == "RSA PRIVATE KEY" {
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New(path + ": not an RSA key")
	}
	return rsaKey, nil
}

// readRequest returns the headers (lower-case names) and the exact body of a request file.
func readRequest(path string) (map[string]string, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	head, body, ok := splitHead(data)
	if !ok {
		return nil, nil, errors.New("no blank line between the headers and the body")
	}
	headers := map[string]string{}
	for i, line := range strings.Split(string(head), "\n") {
		line = strings.TrimRight(line, "\r")
		name, value, found := strings.Cut(line, ":")
		if found && name != "" && !strings.ContainsAny(name, " \t") {
			headers[strings.ToLower(name)] = strings.TrimSpace(value)
		} else if i > 0 && line != "" {
			return nil, nil, fmt.Errorf("line %d is not a header", i+1)
		}
	}
	return headers, body, nil
}

func splitHead(data []byte) (head, body []byte, ok bool) {
	if bytes.HasPrefix(data, []byte("\r\n")) {
		return nil, data[2:], true
	}
	if bytes.HasPrefix(data, []byte("\n")) {
		return nil, data[1:], true
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\n' {
			continue
		}
		rest := data[i+1:]
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return data[:i], rest[2:], true
		}
		if bytes.HasPrefix(rest, []byte("\n")) {
			return data[:i], rest[1:], true
		}
	}
	return nil, nil, false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

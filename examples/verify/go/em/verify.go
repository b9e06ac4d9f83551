// Command verify checks an EM-format callback from notify-bridge (sorted-params, md5,
// lower-case hex).
//
// Usage:
//
//	go run verify.go --secret SECRET REQUEST_FILE...
//	go run verify.go --secret-file FILE REQUEST_FILE...
//
// A REQUEST_FILE holds the request as received: optional request line, header lines, one
// blank line, then the body byte for byte (see docs/integrators/README.md). Exit status:
// 0 when every signature holds, 1 when one does not, 2 on bad usage or an unreadable file.
//
// The body is {"appid", "request_data", "timestamp", "sign"} (EM's format). The
// rule: take the top-level fields except `sign` (appid, request_data, timestamp), drop
// those whose value is null or "", sort the keys by byte order, join them as k=v with &
// (values as they are: request_data is its JSON text, not URL-encoded), append
// "&key=" + secret, md5 the UTF-8 bytes, lower-case hex. Go standard library only.
package main

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
)

const usage = "usage: go run verify.go (--secret SECRET | --secret-file FILE) REQUEST_FILE..."

func main() {
	secret, files, err := parseArgs(os.Args[1:])
	if err != nil || secret == "" || len(files) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	status := 0
	for _, path := range files {
		ok, detail, err := verify(path, secret)
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

func parseArgs(args []string) (secret string, files []string, err error) {
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--secret", "--secret-file":
			if i+1 >= len(args) {
				return "", nil, errors.New("missing value")
			}
			i++
			secret = args[i]
			if args[i-1] == "--secret-file" {
				data, err := os.ReadFile(args[i])
				if err != nil {
					return "", nil, err
				}
				secret = strings.TrimRight(string(data), "\r\n")
			}
		default:
			files = append(files, args[i])
		}
	}
	return secret, files, nil
}

func verify(path, secret string) (bool, string, error) {
	headers, body, err := readRequest(path)
	if err != nil {
		return false, "", err
	}
	fields, err := decodeFields(headers, body)
	if err != nil {
		return false, "", err
	}
	given, ok := fields["sign"]
	if !ok || !given.isString {
		return false, "no sign field", nil
	}
	sum := md5.Sum([]byte(stringToSign(fields, secret)))
	expected := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(expected), []byte(given.text)) != 1 {
		return false, "sign does not match", nil
	}
	// Dispatch on request_data's notify_type once the signature holds.
	var data struct {
		NotifyType string `json:"notify_type"`
	}
	_ = json.Unmarshal([]byte(fields["request_data"].text), &data)
	return true, "X-Notify-Id " + orDash(headers["x-notify-id"]) + ", notify_type " + orDash(data.NotifyType), nil
}

// field is one top-level value as it is signed: strings raw, anything else compact JSON.
type field struct {
	text     string
	isString bool
	empty    bool
}

func decodeFields(headers map[string]string, body []byte) (map[string]field, error) {
	fields := map[string]field{}
	if strings.Contains(headers["content-type"], "x-www-form-urlencoded") {
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range values {
			last := v[len(v)-1]
			fields[k] = field{text: last, isString: true, empty: last == ""}
		}
		return fields, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("the body is not a JSON object: %v", err)
	}
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		switch {
		case string(v) == "null":
			fields[k] = field{empty: true}
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
			fields[k] = field{text: s, isString: true, empty: s == ""}
		default:
			var buf bytes.Buffer
			if err := json.Compact(&buf, v); err != nil {
				return nil, err
			}
			fields[k] = field{text: buf.String()}
		}
	}
	return fields, nil
}

func stringToSign(fields map[string]field, secret string) string {
	keys := make([]string, 0, len(fields))
	for k, f := range fields {
		if k != "sign" && !f.empty {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // Go compares strings byte by byte
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + fields[k].text
	}
	return strings.Join(pairs, "&") + "&key=" + secret
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

// Command verify checks a 商战网络-format callback from notify-bridge (sorted-chars md5).
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
// The rule (the seed's PHP getSign): decode the JSON body, remove `sign`, serialise the rest
// exactly as PHP's json_encode($fields, 320) does, split that text into characters, sort
// them by code point, join, append the secret, md5 the UTF-8 bytes, lower-case hex.
// json_encode(…, 320) = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES: no spaces, Chinese
// and "/" written as they are, numbers as PHP prints them. phpJSON below reproduces it;
// the body is decoded in order (Go maps would lose the order PHP keeps).
// Go standard library only.
package main

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep each number's text
	doc, err := decodeValue(dec)
	if err != nil {
		return false, "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, "", errors.New("data after the JSON body")
	}
	fields, isObject := doc.(object)
	if !isObject {
		return false, "", errors.New("the body is not a JSON object")
	}
	given, _ := fields.get("sign").(string)
	if given == "" {
		return false, "no sign field", nil
	}
	var text strings.Builder
	if err := phpJSON(fields.without("sign"), &text); err != nil {
		return false, "", err
	}
	chars := []rune(text.String())
	sort.Slice(chars, func(i, j int) bool { return chars[i] < chars[j] })
	sum := md5.Sum([]byte(string(chars) + secret))
	expected := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(expected), []byte(given)) != 1 {
		return false, "sign does not match", nil
	}
	status, _ := fields.get("status").(string)
	return true, "X-Notify-Id " + orDash(headers["x-notify-id"]) + ", status " + orDash(status), nil
}

// object is a JSON object with its members in order.
type object []member

type member struct {
	key   string
	value interface{}
}

func (o object) get(key string) interface{} {
	for _, m := range o {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

func (o object) without(key string) object {
	out := object{}
	for _, m := range o {
		if m.key != key {
			out = append(out, m)
		}
	}
	return out
}

// decodeValue reads one JSON value: object, []interface{}, string, json.Number, bool or nil.
func decodeValue(dec *json.Decoder) (interface{}, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, isDelim := tok.(json.Delim)
	if !isDelim {
		return tok, nil
	}
	switch delim {
	case '{':
		obj := object{}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			value, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			key, _ := keyTok.(string)
			obj = obj.set(key, value)
		}
		_, err = dec.Token()
		return obj, err
	case '[':
		list := []interface{}{}
		for dec.More() {
			value, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			list = append(list, value)
		}
		_, err = dec.Token()
		return list, err
	}
	return nil, fmt.Errorf("unexpected %v", delim)
}

// set keeps a repeated key where it first appeared, with its last value, as PHP does.
func (o object) set(key string, value interface{}) object {
	for i := range o {
		if o[i].key == key {
			o[i].value = value
			return o
		}
	}
	return append(o, member{key, value})
}

// phpJSON writes what PHP's json_encode(json_decode($body, true), 320) prints for v.
func phpJSON(v interface{}, out *strings.Builder) error {
	switch v := v.(type) {
	case nil:
		out.WriteString("null")
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case json.Number:
		text, err := phpNumber(string(v))
		if err != nil {
			return err
		}
		out.WriteString(text)
	case string:
		phpString(v, out)
	case []interface{}:
		return phpList(v, out)
	case object:
		// json_decode(.., true) makes objects PHP arrays: keys exactly "0".."n-1" in
		// order (and {}) come back out as a JSON list.
		isList := true
		for i, m := range v {
			isList = isList && m.key == strconv.Itoa(i)
		}
		if isList {
			values := make([]interface{}, len(v))
			for i, m := range v {
				values[i] = m.value
			}
			return phpList(values, out)
		}
		out.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				out.WriteByte(',')
			}
			phpString(m.key, out)
			out.WriteByte(':')
			if err := phpJSON(m.value, out); err != nil {
				return err
			}
		}
		out.WriteByte('}')
	}
	return nil
}

func phpList(values []interface{}, out *strings.Builder) error {
	out.WriteByte('[')
	for i, value := range values {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := phpJSON(value, out); err != nil {
			return err
		}
	}
	out.WriteByte(']')
	return nil
}

func phpString(s string, out *strings.Builder) {
	out.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x2028 || c == 0x2029 {
				fmt.Fprintf(out, `\u%04x`, c)
			} else {
				out.WriteRune(c)
			}
		}
	}
	out.WriteByte('"')
}

// phpNumber prints a JSON number as PHP does: an integer that fits 64 bits as is, anything
// else as a float with the shortest digits that read back the same, no ".0" on whole values,
// exponent form (1.0e-5, 1.0e+17) below 1e-4 and from 1e17.
func phpNumber(text string) (string, error) {
	if !strings.ContainsAny(text, ".eE") {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return strconv.FormatInt(i, 10), nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if math.IsInf(f, 0) || (err != nil && !errors.Is(err, strconv.ErrRange)) {
		return "", fmt.Errorf("number %s overflows a PHP float", text)
	}
	sign := ""
	if math.Signbit(f) {
		sign = "-"
	}
	f = math.Abs(f)
	if f == 0 {
		return sign + "0", nil
	}
	// The shortest length first, then the nearest digits of that length (PHP's choice).
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa := sci[:strings.IndexByte(sci, 'e')]
	if digits := len(strings.Replace(mantissa, ".", "", 1)); digits > 1 {
		nearest := strconv.FormatFloat(f, 'e', digits-1, 64)
		if back, _ := strconv.ParseFloat(nearest, 64); back == f {
			sci = nearest
		}
	}
	at := strings.IndexByte(sci, 'e')
	digits := strings.Replace(sci[:at], ".", "", 1)
	exp, _ := strconv.Atoi(sci[at+1:])
	decpt := exp + 1
	switch {
	case decpt < -3 || decpt > 17:
		rest := digits[1:]
		if rest == "" {
			rest = "0"
		}
		expSign := "-"
		if decpt > 0 {
			expSign = "+"
		}
		return fmt.Sprintf("%s%s.%se%s%d", sign, digits[:1], rest, expSign, abs(decpt-1)), nil
	case decpt <= 0:
		return sign + "0." + strings.Repeat("0", -decpt) + digits, nil
	case len(digits) <= decpt:
		return sign + digits + strings.Repeat("0", decpt-len(digits)), nil
	default:
		return sign + digits[:decpt] + "." + digits[decpt:], nil
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
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

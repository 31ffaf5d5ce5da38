package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Keys lists every configuration key the program reads, without the namespace.
var Keys = []string{
	"provider", "network", "allowedHostOnlyRanges", "box", "db", "machines", "stf", "docker",
	"unitTimeoutSeconds",
}

// SecretKey is the optional secret setting that signs STF's sessions.
const SecretKey = "stfSecret"

// CheckKeys reports configuration keys in the namespace that the program does not read,
// each with its value and the closest known key, so a misspelt key is not silently
// ignored. settings maps each key, without the namespace, to its value as Pulumi stores
// it: a plain string, or JSON for objects and lists. A secret's value is not shown.
func CheckKeys(settings map[string]string, secrets []string) error {
	known := append(append([]string(nil), Keys...), SecretKey)
	var problems []Problem
	for key, value := range settings {
		if contains(known, key) {
			continue
		}
		problems = append(problems, Problem{
			Key:     key,
			Value:   settingText(value, contains(secrets, key)),
			Message: "unknown setting",
			Fix:     "remove it" + suggestion(key, known),
		})
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Key < problems[j].Key })
	return &ValidationError{Problems: problems}
}

// maxValueText is the longest value, in bytes, that a problem shows in full.
const maxValueText = 60

// settingText returns a setting's value as a problem shows it: compact JSON for
// objects and lists, a quoted string otherwise, and [secret] for a secret.
func settingText(value string, secret bool) string {
	if secret {
		return "[secret]"
	}
	text := fmt.Sprintf("%q", value)
	if trimmed := strings.TrimSpace(value); strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
		var generic any
		if json.Unmarshal([]byte(value), &generic) == nil {
			text = jsonText(generic)
		}
	}
	if len(text) <= maxValueText {
		return text
	}
	// Cut at a character boundary, so the message stays valid UTF-8.
	cut := maxValueText
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "..."
}

// Merge joins the problems of several validation errors into one. It returns the first
// error that is not a *ValidationError unchanged, and nil when every error is nil.
func Merge(errs ...error) error {
	var problems []Problem
	for _, err := range errs {
		if err == nil {
			continue
		}
		var verr *ValidationError
		if !errors.As(err, &verr) {
			return err
		}
		problems = append(problems, verr.Problems...)
	}
	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: problems}
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

// suggestion returns ", or use NAME" for the known name closest to name, or "" when
// none is close.
func suggestion(name string, known []string) string {
	best, bestDistance := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	if best == "" {
		return ""
	}
	return ", or use " + best
}

// editDistance is the Levenshtein distance between two strings.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current := make([]int, len(b)+1)
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous = current
	}
	return previous[len(b)]
}

// decoder collects the problems of decoding raw configuration values.
type decoder struct {
	raw      map[string]string
	problems []Problem
}

// object decodes one JSON value into target, rejecting unknown fields. key names the
// value in errors, for example machines[1].
func (d *decoder) object(key, value string, target any) {
	dec := json.NewDecoder(bytes.NewBufferString(value))
	dec.DisallowUnknownFields()
	err := dec.Decode(target)
	if err == nil {
		return
	}

	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		field := key
		if typeErr.Field != "" {
			field = key + "." + typeErr.Field
		}
		// typeErr.Value names the JSON kind (string, number); the value itself is read
		// from the setting where its path leads to it.
		valueText := typeErr.Value
		var generic any
		if json.Unmarshal([]byte(value), &generic) == nil {
			if found, ok := lookup(generic, typeErr.Field); ok {
				valueText = jsonText(found)
			}
		}
		d.problems = append(d.problems, Problem{
			Key:     field,
			Value:   valueText,
			Message: typeMessage(typeErr, valueText),
			Fix:     "write it as " + describeKind(typeErr.Type) + " (see Pulumi.dev.yaml)",
		})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		var generic any
		_ = json.Unmarshal([]byte(value), &generic)
		path, name, known := findUnknown(generic, reflect.TypeOf(target), key)
		valueText := "(set)"
		if path == "" {
			path, name = key, strings.TrimPrefix(err.Error(), "json: unknown field ")
		} else if found, ok := lookup(generic, strings.TrimPrefix(path, key+".")); ok {
			valueText = jsonText(found)
		}
		d.problems = append(d.problems, Problem{
			Key:     path,
			Value:   valueText,
			Message: "unknown setting",
			Fix:     "remove it" + suggestion(name, known),
		})
	default:
		d.problems = append(d.problems, Problem{
			Key:     key,
			Value:   fmt.Sprintf("%q", value),
			Message: "cannot be read: " + err.Error(),
			Fix:     "write it as YAML that matches Pulumi.dev.yaml",
		})
	}
}

// typeMessage returns why a JSON value does not fit its setting. encoding/json reports
// both a fraction and a number too large for an integer field as a number of the wrong
// type, so typeMessage distinguishes the two by the value.
func typeMessage(typeErr *json.UnmarshalTypeError, valueText string) string {
	expected := "expected " + describeKind(typeErr.Type)
	if !strings.HasPrefix(typeErr.Value, "number") || describeKind(typeErr.Type) != "a whole number" {
		return expected + ", not " + typeErr.Value
	}
	if number, err := strconv.ParseFloat(valueText, 64); err == nil && number != math.Trunc(number) {
		return expected + ", not a fraction"
	}
	return expected + ", and this one is too large"
}

func describeKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// findUnknown walks a decoded JSON value alongside the Go type it was decoded into and
// returns the path and name of the first object key that matches no field, with the
// field names that were possible there. Keys match fields without regard to case, as in
// encoding/json.
func findUnknown(value any, t reflect.Type, path string) (string, string, []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := value.(type) {
	case []any:
		if t.Kind() != reflect.Slice {
			return "", "", nil
		}
		for i, element := range v {
			if p, name, known := findUnknown(element, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p, name, known
			}
		}
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return "", "", nil
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[strings.ToLower(name)] = t.Field(i).Type
				names = append(names, name)
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fieldType, ok := fields[strings.ToLower(k)]
			if !ok {
				return path + "." + k, k, names
			}
			if p, name, known := findUnknown(v[k], fieldType, path+"."+k); p != "" {
				return p, name, known
			}
		}
	}
	return "", "", nil
}

// lookup follows a dotted path of object keys (matched without regard to case, as in
// encoding/json) through a decoded JSON value. An empty path is the value itself.
func lookup(value any, path string) (any, bool) {
	if path == "" {
		return value, true
	}
	for _, part := range strings.Split(path, ".") {
		object, ok := value.(map[string]any)
		if !ok {
			return nil, false
		}
		found := false
		for k, v := range object {
			if strings.EqualFold(k, part) {
				value, found = v, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return value, true
}

// jsonText writes a decoded JSON value back as JSON, the way the error shows it.
func jsonText(value any) string {
	data, err := json.Marshal(value)
	if err != nil {
		return fmt.Sprint(value)
	}
	return string(data)
}

// list decodes a JSON list element by element, so an error names the element.
func list[T any](d *decoder, key string, target *[]T) {
	value, ok := d.raw[key]
	if !ok || strings.TrimSpace(value) == "" {
		return
	}
	var elements []json.RawMessage
	if err := json.Unmarshal([]byte(value), &elements); err != nil {
		d.problems = append(d.problems, Problem{
			Key: key, Value: fmt.Sprintf("%q", value),
			Message: "not a list", Fix: "write it as a YAML list (see Pulumi.dev.yaml)",
		})
		return
	}
	for i, element := range elements {
		var item T
		d.object(fmt.Sprintf("%s[%d]", key, i), string(element), &item)
		*target = append(*target, item)
	}
}

func (d *decoder) value(key string, target any) {
	if value, ok := d.raw[key]; ok && strings.TrimSpace(value) != "" {
		d.object(key, value, target)
	}
}

// Decode builds a Config from raw configuration values, keyed without the namespace, as
// Pulumi stores them: plain strings, and JSON for objects and lists. Unknown fields and
// values of the wrong type are errors that name the field. Decode applies defaults but
// does not validate.
func Decode(raw map[string]string) (*Config, error) {
	cfg := &Config{Provider: raw["provider"], Network: raw["network"]}
	d := &decoder{raw: raw}

	list(d, "allowedHostOnlyRanges", &cfg.AllowedHostOnlyRanges)
	d.value("box", &cfg.Box)
	d.value("db", &cfg.DB)
	list(d, "machines", &cfg.Machines)
	d.value("stf", &cfg.STF)
	d.value("docker", &cfg.Docker)

	if value, ok := raw["unitTimeoutSeconds"]; ok && value != "" {
		n, err := strconv.Atoi(value)
		if err != nil {
			d.problems = append(d.problems, Problem{
				Key:     "unitTimeoutSeconds",
				Value:   fmt.Sprintf("%q", value),
				Message: "not a whole number of seconds",
				Fix:     "set it to a number such as 600",
			})
		}
		cfg.UnitTimeoutSeconds = n
	}

	if len(d.problems) > 0 {
		return nil, &ValidationError{Problems: d.problems}
	}
	cfg.ApplyDefaults()
	return cfg, nil
}

// Load decodes and validates raw configuration values.
func Load(raw map[string]string) (*Config, error) {
	cfg, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

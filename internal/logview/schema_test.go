package logview

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fill sets every field of the struct v points to, recursively, to a value that is not zero.
func fill(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(time.Unix(1, 0)))
		case f.Type() == reflect.TypeFor[json.RawMessage]():
			f.SetBytes([]byte("1"))
		case f.Type() == reflect.TypeFor[Content]():
			f.Set(reflect.ValueOf(ContentOf("x")))
		case f.Kind() == reflect.String:
			f.SetString("x")
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			f.SetInt(1)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"x"}))
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
			f.Set(reflect.New(f.Type().Elem()))
			fill(f.Elem())
		default:
			panic("fill: no value for " + f.Type().String())
		}
	}
}

// jsonKeys returns the object keys of a decoded JSON value, nested ones included.
func jsonKeys(v any) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var keys []string
	for k, sub := range obj {
		keys = append(keys, k)
		keys = append(keys, jsonKeys(sub)...)
	}
	return keys
}

// TestLogFormatDocumentsEveryField writes an event with every field set and checks that
// docs/log-format.md names each JSON key it holds, nested ones included, and that the
// documentation's field table names no key that is not written.
func TestLogFormatDocumentsEveryField(t *testing.T) {
	doc, err := os.ReadFile("../../docs/log-format.md")
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	fill(reflect.ValueOf(&e).Elem())
	line, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(line, &top); err != nil {
		t.Fatal(err)
	}
	written := jsonKeys(top)
	for _, k := range written {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/log-format.md does not document the field %q", k)
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		if _, ok := top[m[1]]; !ok {
			t.Errorf("docs/log-format.md documents %q, which is never written", m[1])
		}
	}
	if n := reflect.TypeFor[Event]().NumField(); len(top) != n {
		t.Fatalf("the event has %d fields, %d of them written: %s", n, len(top), line)
	}
}

// genericKeys are the fields any kind of event may hold.
var genericKeys = map[string]bool{"v": true, "time": true, "session": true, "kind": true, "user": true}

// TestLogFormatDocumentsEachKind checks the events the proxy writes, as its golden files
// (proxy/testdata/events) record them, against docs/log-format.md: every field an event of a
// kind holds appears in that kind's examples there.
func TestLogFormatDocumentsEachKind(t *testing.T) {
	doc, err := os.ReadFile("../../docs/log-format.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[Kind]map[string]bool{}
	heading := regexp.MustCompile("(?m)^\\*\\*`([a-z]+)`\\*\\* —")
	marks := heading.FindAllStringSubmatchIndex(string(doc), -1)
	for i, m := range marks {
		end := len(doc)
		if i+1 < len(marks) {
			end = marks[i+1][0]
		}
		keys := map[string]bool{}
		for _, line := range strings.Split(string(doc[m[1]:end]), "\n") {
			var v any
			if strings.HasPrefix(line, `{"v":`) && json.Unmarshal([]byte(line), &v) == nil {
				for _, k := range jsonKeys(v) {
					keys[k] = true
				}
			}
		}
		documented[Kind(doc[m[2]:m[3]])] = keys
	}
	files, err := filepath.Glob("../proxy/testdata/events/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden event files: %v", err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			kind := Kind(v["kind"].(string))
			for _, k := range jsonKeys(v) {
				if !genericKeys[k] && !documented[kind][k] {
					t.Errorf("%s: a %s event holds %q, which no %s example in docs/log-format.md shows", filepath.Base(name), kind, k, kind)
				}
			}
		}
	}
}

// TestStamp checks that Stamp sets the schema version and the time now, in UTC, and keeps
// every other field.
func TestStamp(t *testing.T) {
	var e Event
	fill(reflect.ValueOf(&e).Elem())
	before := time.Now().UTC()
	got := Stamp(e)
	after := time.Now().UTC()
	if got.V != Version || got.Time.Location() != time.UTC || got.Time.Before(before) || got.Time.After(after) {
		t.Errorf("Stamp set v %d, time %v; want %d and a UTC time from %v to %v", got.V, got.Time, Version, before, after)
	}
	got.V, got.Time = e.V, e.Time
	if !reflect.DeepEqual(got, e) {
		t.Errorf("Stamp changed other fields:\n%+v\nwant\n%+v", got, e)
	}
}

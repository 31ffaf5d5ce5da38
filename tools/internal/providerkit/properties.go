package providerkit

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Decode turns the wire form of a property map into a PropertyMap, keeping
// unknown values and secret markers and dropping nulls.
func Decode(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		KeepUnknowns:  true,
		KeepSecrets:   true,
		KeepResources: true,
		SkipNulls:     true,
	})
}

// Encode turns a PropertyMap into its wire form, keeping unknown values and
// secret markers.
func Encode(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		KeepUnknowns:  true,
		KeepSecrets:   true,
		KeepResources: true,
		SkipNulls:     true,
	})
}

// Reveal returns v with every secret marker removed, at any depth. Providers
// need the plain values to act on them; secretness of the results is decided
// separately.
func Reveal(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return Reveal(v.SecretValue().Element)
	case v.IsOutput():
		out := v.OutputValue()
		if !out.Known {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return Reveal(out.Element)
	case v.IsArray():
		items := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, item := range v.ArrayValue() {
			items[i] = Reveal(item)
		}
		return resource.NewArrayProperty(items)
	case v.IsObject():
		return resource.NewObjectProperty(RevealMap(v.ObjectValue()))
	default:
		return v
	}
}

// RevealMap applies Reveal to every value of m.
func RevealMap(m resource.PropertyMap) resource.PropertyMap {
	out := make(resource.PropertyMap, len(m))
	for k, v := range m {
		out[k] = Reveal(v)
	}
	return out
}

// IsUnknown reports whether v, or anything inside it, is not known yet
// (which only happens during a preview).
func IsUnknown(v resource.PropertyValue) bool {
	return v.ContainsUnknowns()
}

// Pick returns the entries of m whose keys are in keys.
func Pick(m resource.PropertyMap, keys []string) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, k := range keys {
		if v, ok := m[resource.PropertyKey(k)]; ok && !v.IsNull() {
			out[resource.PropertyKey(k)] = v
		}
	}
	return out
}

// Failures collects Check failures for individual properties.
type Failures []*pulumirpc.CheckFailure

// Add records that property is invalid for the reason given.
func (f *Failures) Add(property, format string, args ...any) {
	*f = append(*f, &pulumirpc.CheckFailure{Property: property, Reason: fmt.Sprintf(format, args...)})
}

// String checks that m[key], when present and known, is a string.
func (f *Failures) String(m resource.PropertyMap, key string) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || IsUnknown(v) {
		return
	}
	if v = Reveal(v); !v.IsString() {
		f.Add(key, "%s must be a string, not %s", key, v.TypeString())
	}
}

// Bool checks that m[key], when present and known, is a boolean.
func (f *Failures) Bool(m resource.PropertyMap, key string) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || IsUnknown(v) {
		return
	}
	if v = Reveal(v); !v.IsBool() {
		f.Add(key, "%s must be a boolean, not %s", key, v.TypeString())
	}
}

// Integer checks that m[key], when present and known, is a whole number of
// at least min.
func (f *Failures) Integer(m resource.PropertyMap, key string, min int) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || IsUnknown(v) {
		return
	}
	v = Reveal(v)
	if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
		f.Add(key, "%s must be a whole number", key)
		return
	}
	if v.NumberValue() < float64(min) {
		f.Add(key, "%s must be at least %d, not %v", key, min, v.NumberValue())
	}
}

// StringList checks that m[key], when present, is a list of strings.
func (f *Failures) StringList(m resource.PropertyMap, key string) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || v.IsComputed() {
		return
	}
	v = Reveal(v)
	if !v.IsArray() {
		f.Add(key, "%s must be a list of strings, not %s", key, v.TypeString())
		return
	}
	for i, item := range v.ArrayValue() {
		if !item.IsString() && !IsUnknown(item) {
			f.Add(fmt.Sprintf("%s[%d]", key, i), "%s must contain only strings", key)
		}
	}
}

// StringMap checks that m[key], when present, maps names to strings.
func (f *Failures) StringMap(m resource.PropertyMap, key string) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || v.IsComputed() {
		return
	}
	v = Reveal(v)
	if !v.IsObject() {
		f.Add(key, "%s must be a map of strings, not %s", key, v.TypeString())
		return
	}
	for name, item := range v.ObjectValue() {
		if !item.IsString() && !IsUnknown(item) {
			f.Add(fmt.Sprintf("%s.%s", key, name), "%s must contain only strings", key)
		}
	}
}

// Unexpected adds a failure for every key of m that is not in known.
// Internal keys (starting with "__") that older SDKs add are ignored.
func (f *Failures) Unexpected(m resource.PropertyMap, token string, known []string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) >= 2 && k[:2] == "__" {
			continue
		}
		if !slices.Contains(known, k) {
			f.Add(k, "%s is not a property of %s", k, token)
		}
	}
}

package providerkit

import (
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// DiffInputs compares the inputs recorded for a resource (olds) with the
// checked inputs of the program (news), looking only at the given input keys.
//
// Values are compared with secret markers removed, so turning a value into a
// secret without changing it is not a change. A value that is not known yet
// counts as changed. A change under a top-level key for which replaces
// returns true forces a replacement, and every other change is an in-place
// update. Keys listed in ignoreChanges (top-level names) keep their old value.
//
// The response always carries a detailed diff, with one entry per changed
// path (for example "environment.NAME" or "triggers[0]"). Whether the old
// resource is deleted before its replacement is created is left to the
// engine, which applies the deleteBeforeReplace resource option.
func DiffInputs(
	olds, news resource.PropertyMap, keys []string, replaces func(key string) bool, ignoreChanges []string,
) *pulumirpc.DiffResponse {
	oldInputs := RevealMap(Pick(olds, keys))
	newInputs := RevealMap(Pick(news, keys))
	for _, k := range ignoreChanges {
		key := resource.PropertyKey(k)
		if v, ok := oldInputs[key]; ok {
			newInputs[key] = v
		} else {
			delete(newInputs, key)
		}
	}

	objectDiff := oldInputs.Diff(newInputs)
	detailed := plugin.NewDetailedDiffFromObjectDiff(objectDiff, true)

	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		HasDetailedDiff: true,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
	}
	changed := map[string]bool{}
	replaced := map[string]bool{}
	for path, d := range detailed {
		top := topLevelKey(path)
		changed[top] = true
		if replaces(top) {
			d = d.ToReplace()
			replaced[top] = true
		}
		resp.DetailedDiff[path] = &pulumirpc.PropertyDiff{Kind: wireKind(d.Kind), InputDiff: d.InputDiff}
	}
	if len(changed) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	resp.Diffs = sortedKeys(changed)
	resp.Replaces = sortedKeys(replaced)
	return resp
}

func topLevelKey(path string) string {
	parsed, err := resource.ParsePropertyPath(path)
	if err != nil || len(parsed) == 0 {
		return path
	}
	if name, ok := parsed[0].(string); ok {
		return name
	}
	return path
}

func wireKind(k plugin.DiffKind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case plugin.DiffAdd:
		return pulumirpc.PropertyDiff_ADD
	case plugin.DiffAddReplace:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case plugin.DiffDelete:
		return pulumirpc.PropertyDiff_DELETE
	case plugin.DiffDeleteReplace:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	case plugin.DiffUpdateReplace:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE
	}
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

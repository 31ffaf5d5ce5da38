package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components"
	"stf-farm/components/placement"
)

func threeMachines() []placement.Machine {
	return []placement.Machine{
		{Name: "core-01", Metadata: map[string]string{"role": "nginx", "index": "1"}},
		{Name: "core-02", Metadata: map[string]string{"role": "appside", "index": "2"}},
		{Name: "core-03", Metadata: map[string]string{"role": "devside", "index": "3"}},
	}
}

func candidatesOf(t *testing.T, results []placement.Result, unit string) []string {
	t.Helper()
	for _, r := range results {
		if r.Unit == unit {
			return r.Candidates
		}
	}
	require.Failf(t, "unit missing", "no result for %s", unit)
	return nil
}

func unitWithFleet(fleet string) string {
	return "[Unit]\nDescription=test\n\n[Service]\nExecStart=/bin/true\n\n[X-Fleet]\n" + fleet + "\n"
}

func TestPlacementRules(t *testing.T) {
	cases := []struct {
		name  string
		unit  string
		fleet string
		want  []string
	}{
		{"no constraint", "free.service", "", []string{"core-01", "core-02", "core-03"}},
		{"role", "proxy.service", "MachineMetadata=role=nginx", []string{"core-01"}},
		{"instance index", "stf-provider@3.service", "MachineMetadata=index=%i", []string{"core-03"}},
		{"two values of one key", "either.service", "MachineMetadata=role=appside\nMachineMetadata=role=devside",
			[]string{"core-02", "core-03"}},
		{"quoted values", "quoted.service", `MachineMetadata="role=appside" "role=nginx"`,
			[]string{"core-01", "core-02"}},
		{"two keys", "both.service", "MachineMetadata=role=appside\nMachineMetadata=index=2", []string{"core-02"}},
		{"global", "adbd.service", "Global=true", []string{"core-01", "core-02", "core-03"}},
		{"prefix specifier", "appside.service", "MachineMetadata=role=%p", []string{"core-02"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			results, err := placement.Evaluate([]placement.Unit{{Name: tc.unit, Text: unitWithFleet(tc.fleet)}}, threeMachines())
			require.NoError(t, err)
			assert.Equal(t, tc.want, candidatesOf(t, results, tc.unit))
		})
	}
}

func TestPlacementGlobalFlag(t *testing.T) {
	results, err := placement.Evaluate([]placement.Unit{
		{Name: "adbd.service", Text: unitWithFleet("Global=true")},
		{Name: "app.service", Text: unitWithFleet("Global=false")},
	}, threeMachines())
	require.NoError(t, err)
	assert.True(t, results[0].Global)
	assert.False(t, results[1].Global)
}

func TestPlacementMachineOfNarrows(t *testing.T) {
	results, err := placement.Evaluate([]placement.Unit{
		{Name: "side.service", Text: unitWithFleet("MachineOf=main.service")},
		{Name: "main.service", Text: unitWithFleet("MachineMetadata=role=devside")},
	}, threeMachines())
	require.NoError(t, err)
	assert.Equal(t, []string{"core-03"}, candidatesOf(t, results, "side.service"))
}

func TestPlacementMachineOfUnknownUnit(t *testing.T) {
	_, err := placement.Evaluate([]placement.Unit{
		{Name: "side.service", Text: unitWithFleet("MachineOf=missing.service")},
	}, threeMachines())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.service")
}

func TestPlacementNoCandidateNamesUnit(t *testing.T) {
	_, err := placement.Evaluate([]placement.Unit{
		{Name: "stf-provider@4.service", Text: unitWithFleet("MachineMetadata=index=%i")},
	}, threeMachines())
	require.Error(t, err)

	var noCandidate *placement.NoCandidateError
	require.ErrorAs(t, err, &noCandidate)
	assert.Equal(t, "stf-provider@4.service", noCandidate.Unit)
	assert.Contains(t, err.Error(), "MachineMetadata=index=4")
	assert.Contains(t, err.Error(), "core-03 (index=3,role=devside)")
}

func TestPlacementConflictsFit(t *testing.T) {
	var units []placement.Unit
	for _, name := range []string{"stf-processor@1.service", "stf-processor@2.service", "stf-processor@3.service"} {
		units = append(units, placement.Unit{Name: name, Text: unitWithFleet("Conflicts=stf-processor@*.service")})
	}
	results, err := placement.Evaluate(units, threeMachines())
	require.NoError(t, err)
	for _, r := range results {
		assert.Len(t, r.Candidates, 3, "%s may run on any machine", r.Unit)
	}
}

func TestPlacementConflictsOverflow(t *testing.T) {
	var units []placement.Unit
	for _, name := range []string{"p@1.service", "p@2.service", "p@3.service", "p@4.service"} {
		units = append(units, placement.Unit{Name: name, Text: unitWithFleet("Conflicts=p@*.service")})
	}
	_, err := placement.Evaluate(units, threeMachines())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Conflicts=p@*.service")
	assert.Contains(t, err.Error(), "3 machines")
}

func TestPlacementConflictsWithPinnedUnit(t *testing.T) {
	// Two units that conflict and are both pinned to one machine cannot both run.
	_, err := placement.Evaluate([]placement.Unit{
		{Name: "a.service", Text: unitWithFleet("MachineMetadata=role=nginx\nConflicts=b.service")},
		{Name: "b.service", Text: unitWithFleet("MachineMetadata=index=1")},
	}, threeMachines())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a.service, b.service")
}

func TestPlacementRejectsMalformedMetadata(t *testing.T) {
	_, err := placement.Evaluate([]placement.Unit{
		{Name: "bad.service", Text: unitWithFleet("MachineMetadata=role=nginx role=appside")},
	}, threeMachines())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "key=value")
}

func TestPlacementRejectsUnknownOption(t *testing.T) {
	_, err := placement.Evaluate([]placement.Unit{
		{Name: "bad.service", Text: unitWithFleet("MachineMetdata=role=nginx")},
	}, threeMachines())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MachineMetdata")
}

func TestDevStackPlacement(t *testing.T) {
	plan, err := components.PlanFarm(devConfig(t))
	require.NoError(t, err)
	all := []string{"core-01", "core-02", "core-03"}
	assert.Equal(t, []string{"core-01"}, candidatesOf(t, plan.Placement, "nginx.service"))
	assert.Equal(t, []string{"core-02"}, candidatesOf(t, plan.Placement, "stf-triproxy-app.service"))
	assert.Equal(t, []string{"core-03"}, candidatesOf(t, plan.Placement, "stf-triproxy-dev.service"))
	assert.Equal(t, []string{"core-01"}, candidatesOf(t, plan.Placement, "stf-provider@1.service"))
	assert.Equal(t, all, candidatesOf(t, plan.Placement, "stf-app@3100.service"))
	assert.Equal(t, all, candidatesOf(t, plan.Placement, "adbd.service"))
}

func TestMultiRoleMachinePlacement(t *testing.T) {
	cfg := stackVariants(t)["single"]
	plan, err := components.PlanFarm(cfg)
	require.NoError(t, err)
	assert.Equal(t, "role=nginx+appside+devside,index=1", cfg.Machines[0].FleetMetadataString())
	for _, r := range plan.Placement {
		assert.Equal(t, []string{"solo"}, r.Candidates, "%s", r.Unit)
	}
}

package components

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/components/fleet"
	"stf-farm/components/placement"
	"stf-farm/components/render"
)

// FleetUnitsType is the type token of FleetUnits.
const FleetUnitsType = "stf-farm:index:FleetUnits"

// FleetUnitsArgs describe the units to submit and where fleet may run them.
type FleetUnitsArgs struct {
	// Units are the units in start order, rendered with the configured addresses; they
	// fix the names, groups and placement, which do not depend on addresses.
	Units []render.Unit
	// Texts are the unit files rendered with the machines' reported addresses, in the
	// order of Units. Texts of units that contain the STF secret are secret.
	Texts []pulumi.StringOutput
	// Placement is each unit's candidate machines, in the order of Units.
	Placement []placement.Result
	// Endpoint is the etcd endpoint list fleetctl talks to.
	Endpoint pulumi.StringInput
	// ClusterBoot identifies the current boot of every cluster machine. When it changes,
	// fleet may have lost the units, so each unit command runs again and submits its
	// unit when fleet no longer has it.
	ClusterBoot pulumi.StringInput
	// MachineNames maps each reported cluster address to its machine name.
	MachineNames pulumi.StringMapInput
	// Timeout bounds the wait for one unit to become active.
	Timeout time.Duration
	// ProxyReady are the resources the proxy group waits for besides the services: the
	// nginx.conf upload, since nginx.service asserts the file exists.
	ProxyReady []pulumi.Resource
}

// FleetUnits submits the farm's units to fleet in start order and reports where fleet
// placed each one.
type FleetUnits struct {
	pulumi.ResourceState

	// Placement maps each unit to the machines fleet runs it on.
	Placement pulumi.StringArrayMapOutput `pulumi:"placement"`
	// Files maps each unit to its unit file. It is secret, since some files contain the
	// STF secret.
	Files pulumi.StringMapOutput `pulumi:"files"`
}

// NewFleetUnits submits and starts every unit, one group after the other: the base
// units, migrate, the services, then nginx. A changed unit file replaces the unit,
// since fleet units are immutable; delete destroys it.
func NewFleetUnits(ctx *pulumi.Context, name string, args FleetUnitsArgs, opts ...pulumi.ResourceOption) (*FleetUnits, error) {
	u := &FleetUnits{}
	if err := ctx.RegisterComponentResource(FleetUnitsType, name, u, opts...); err != nil {
		return nil, err
	}

	byGroup := map[string][]pulumi.Resource{}
	placed := pulumi.StringArrayMap{}
	unitFiles := pulumi.StringMap{}
	for _, group := range render.Groups {
		var dependsOn []pulumi.Resource
		if previous := previousGroup(group); previous != "" {
			dependsOn = append(dependsOn, byGroup[previous]...)
		}
		if group == render.GroupProxy {
			dependsOn = append(dependsOn, args.ProxyReady...)
		}

		for i, unit := range args.Units {
			if unit.Group != group {
				continue
			}
			cmd, err := newUnitCommand(ctx, u, unit, args.Texts[i], args.Placement[i], args, dependsOn)
			if err != nil {
				return nil, err
			}
			byGroup[group] = append(byGroup[group], cmd)
			unitFiles[unit.Name] = args.Texts[i]
			placed[unit.Name] = pulumi.All(cmd.Stdout, args.MachineNames).ApplyT(
				func(values []any) ([]string, error) {
					machines := fleet.ParsePlacement(values[0].(string), values[1].(map[string]string))
					msg := fmt.Sprintf("%s runs on %s", unit.Name, strings.Join(machines, ", "))
					return machines, ctx.Log.Info(msg, &pulumi.LogArgs{Resource: u})
				}).(pulumi.StringArrayOutput)
		}
	}
	u.Placement = placed.ToStringArrayMapOutput()
	u.Files = pulumi.ToSecret(unitFiles).(pulumi.StringMapOutput)

	// The placement and the unit files reach the stack's outputs through the farm; see
	// NewFarm for why the component records none.
	if err := ctx.RegisterResourceOutputs(u, pulumi.Map{}); err != nil {
		return nil, err
	}
	return u, nil
}

func previousGroup(group string) string {
	for i, g := range render.Groups {
		if g == group && i > 0 {
			return render.Groups[i-1]
		}
	}
	return ""
}

func newUnitCommand(ctx *pulumi.Context, parent *FleetUnits, unit render.Unit, text pulumi.StringOutput,
	candidates placement.Result, args FleetUnitsArgs, dependsOn []pulumi.Resource) (*local.Command, error) {
	expected := 1
	if candidates.Global {
		expected = len(candidates.Candidates)
	}
	textDigest := text.ApplyT(digest).(pulumi.StringOutput)

	timeout := args.Timeout + 30*time.Second
	return local.NewCommand(ctx, unit.Name, &local.CommandArgs{
		Create: pulumi.String(script("fleet.sh", "unit-create.sh")),
		Update: pulumi.String(script("fleet.sh", "unit-update.sh")),
		Delete: pulumi.String(script("fleet.sh", "unit-delete.sh")),
		Environment: pulumi.StringMap{
			"FARM_UNIT":           pulumi.String(unit.Name),
			"FARM_UNIT_TEXT":      text,
			"FARM_UNIT_EXPECTED":  pulumi.String(strconv.Itoa(expected)),
			"FARM_UNIT_TIMEOUT":   pulumi.String(strconv.Itoa(int(args.Timeout.Seconds()))),
			"FARM_FLEET_ENDPOINT": args.Endpoint,
			"FARM_CLUSTER_BOOT":   args.ClusterBoot,
		},
		// fleet units are immutable: a new unit file means destroying the unit and
		// submitting the new one.
		Triggers: pulumi.Array{textDigest},
	},
		pulumi.Parent(parent),
		pulumi.DependsOn(dependsOn),
		pulumi.DeleteBeforeReplace(true),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: timeout.String(), Update: timeout.String()}),
	)
}

// digest returns the hexadecimal SHA-256 of text.
func digest(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

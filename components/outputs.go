package components

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/components/model"
	"stf-farm/components/render"
)

// setOutputs fills the farm's outputs from its children.
func (f *Farm) setOutputs(cfg *model.Config, plan Plan, db *Machine, cores map[string]*Machine,
	addresses pulumi.StringMapOutput, proxy *Proxy, units *FleetUnits) {
	f.URL = addresses.ApplyT(func(all map[string]string) string {
		return "http://" + render.PublicHost(cfg, splitAddresses(cfg, all)) + "/"
	}).(pulumi.StringOutput)
	f.DBAddress = db.Address

	machines := pulumi.MapArray{}
	for _, m := range cfg.Machines {
		roles := pulumi.StringArray{}
		for _, r := range m.Roles {
			roles = append(roles, pulumi.String(r))
		}
		machines = append(machines, pulumi.Map{
			"name":    pulumi.String(m.Name),
			"address": cores[m.Name].Address,
			"index":   pulumi.Int(m.Index),
			"roles":   roles,
		})
	}
	f.Machines = machines.ToMapArrayOutput()

	unitMap := pulumi.MapMap{}
	for _, result := range plan.Placement {
		candidates := pulumi.StringArray{}
		for _, c := range result.Candidates {
			candidates = append(candidates, pulumi.String(c))
		}
		unitMap[result.Unit] = pulumi.Map{
			"candidates": candidates,
			"placement":  units.Placement.MapIndex(pulumi.String(result.Unit)),
		}
	}
	f.Units = unitMap.ToMapMapOutput()
	f.Placement = units.Placement
	f.UnitFiles = units.Files
	f.NginxDigest = proxy.Digest
}

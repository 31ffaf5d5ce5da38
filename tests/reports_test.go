package tests

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components/fleet"
	"stf-farm/components/vagrant"
)

func TestVagrantReportParses(t *testing.T) {
	r, err := vagrant.ParseReport("core-01", vagrantReport("core-01", "192.168.56.201"),
		netip.MustParsePrefix("192.168.56.0/24"))
	require.NoError(t, err)
	assert.Equal(t, "running", r.State)
	assert.Equal(t, "virtualbox", r.Provider)
	assert.Equal(t, "192.168.56.201", r.Address, "the NAT address must not be picked")
	assert.Equal(t, "127.0.0.1", r.SSH.Host)
	assert.Equal(t, "2222", r.SSH.Port)
	assert.Equal(t, "core", r.SSH.User)
	assert.Equal(t, "/home/user/.vagrant.d/insecure_private_key", r.SSH.IdentityFile)
}

func TestVagrantReportWithoutFarmAddress(t *testing.T) {
	_, err := vagrant.ParseReport("core-01", vagrantReport("core-01", "172.17.8.101"),
		netip.MustParsePrefix("192.168.56.0/24"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no IPv4 address inside the farm network 192.168.56.0/24")
	assert.Contains(t, err.Error(), "172.17.8.101")
}

func TestVagrantReportWithoutState(t *testing.T) {
	_, err := vagrant.ParseReport("core-02", vagrantReport("core-01", "192.168.56.201"),
		netip.MustParsePrefix("192.168.56.0/24"))
	require.Error(t, err, "a report of another machine must not be accepted")
	assert.Contains(t, err.Error(), "no state")
}

func TestVagrantReportQuotedIdentityFile(t *testing.T) {
	out := "== status\n1,core-01,state,running\n== ssh-config\n  IdentityFile \"/home/a user/key\"\n" +
		"  IdentityFile /second\n== addresses\n3: eth1 inet 10.1.2.3/24 scope global eth1\n"
	r, err := vagrant.ParseReport("core-01", out, netip.MustParsePrefix("10.1.2.0/24"))
	require.NoError(t, err)
	assert.Equal(t, "/home/a user/key", r.SSH.IdentityFile, "the first identity file is the machine's own key")
}

func TestFleetPlacementRows(t *testing.T) {
	names := map[string]string{"192.168.56.201": "core-01", "192.168.56.202": "core-02"}
	out := "adbd.service\t0123/192.168.56.201\tactive\trunning\n" +
		"adbd.service\t4567/192.168.56.202\tactive\trunning\n" +
		"adbd.service\t89ab/10.9.9.9\tactive\trunning\n" +
		"garbage\n"
	assert.Equal(t, []string{"core-01", "core-02", "unknown machine at 10.9.9.9"}, fleet.ParsePlacement(out, names))
	assert.Equal(t, []string{}, fleet.ParsePlacement("", names))
}

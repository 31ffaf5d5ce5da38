package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stf-farm/components"
	"stf-farm/components/model"
)

// standInDirVariable names the environment variable that gives the stand-ins the folder
// of their data and call log.
const standInDirVariable = "STANDIN_DIR"

// vagrantStandIn is a stand-in for Vagrant 2.x. It boots nothing: it keeps each
// machine's state in $STANDIN_DIR/vagrant/NAME and prints what Vagrant prints for the
// calls that files/scripts/machine-*.sh make, with the address, SSH port and user that
// the test wrote in $STANDIN_DIR/machines/NAME. As Vagrant does, it keeps the machine's
// id in .vagrant/machines/NAME/PROVIDER/id of the folder it runs in, from the first up
// until destroy.
const vagrantStandIn = `#!/bin/sh
# Stand-in for vagrant in the engine tests: it boots no machine.
set -eu
: "${STANDIN_DIR:?the engine tests set STANDIN_DIR for the stand-ins}"
printf '%s\n' "$(printf '%s ' vagrant "$@" | tr '\n' ' ' | cut -c1-400)" >> "$STANDIN_DIR/calls.log"

fail() {
  echo "stand-in vagrant: $*" >&2
  exit 1
}

command=${1:-}
[ $# -gt 0 ] && shift
# Every call of the farm's scripts names one machine: the first argument that is not an
# option.
name=""
provider=virtualbox
for arg in "$@"; do
  case "$arg" in
    --provider=*) provider=${arg#--provider=} ;;
    -*) ;;
    *) if [ -z "$name" ]; then name=$arg; fi ;;
  esac
done
[ -n "$name" ] || fail "no machine name in: $command $*"
[ -f "$STANDIN_DIR/machines/$name" ] || fail "the test described no machine $name"
# Sets address (CIDR form), broadcast, ssh_port and ssh_user.
. "$STANDIN_DIR/machines/$name"

states="$STANDIN_DIR/vagrant"
mkdir -p "$states"
state=not_created
if [ -f "$states/$name" ]; then
  read -r state provider < "$states/$name"
fi

case "$command" in
up)
  echo "Bringing machine '$name' up with '$provider' provider..."
  if [ "$state" = not_created ]; then
    mkdir -p ".vagrant/machines/$name/$provider"
    echo "standin-$name" > ".vagrant/machines/$name/$provider/id"
  fi
  echo "==> $name: Machine booted and ready!"
  echo "running $provider" > "$states/$name"
  ;;
reload)
  # Vagrant's reload halts a running machine and boots it; a halted one just boots.
  case "$state" in
    running) echo "==> $name: Attempting graceful shutdown of VM..." ;;
    poweroff) ;;
    *) fail "$name is $state, so it cannot be reloaded" ;;
  esac
  echo "==> $name: Booting VM..."
  echo "==> $name: Running provisioner: shell..."
  echo "running $provider" > "$states/$name"
  ;;
destroy)
  if [ "$state" = not_created ]; then
    echo "==> $name: VM not created. Moving on..."
  else
    echo "==> $name: Destroying VM and associated drives..."
    rm -f "$states/$name"
    rm -rf ".vagrant/machines/$name"
  fi
  ;;
status)
  now=$(date +%s)
  echo "$now,$name,metadata,provider,$provider"
  echo "$now,$name,provider-name,$provider"
  echo "$now,$name,state,$state"
  echo "$now,$name,state-human-short,$(echo "$state" | tr _ ' ')"
  echo "$now,$name,state-human-long,The machine is $(echo "$state" | tr _ ' ')."
  ;;
ssh-config)
  [ "$state" = running ] || fail "$name is $state, so it has no SSH settings"
  echo "Host $name"
  echo "  HostName 127.0.0.1"
  echo "  User $ssh_user"
  echo "  Port $ssh_port"
  echo "  UserKnownHostsFile /dev/null"
  echo "  StrictHostKeyChecking no"
  echo "  PasswordAuthentication no"
  echo "  IdentityFile $PWD/.vagrant/machines/$name/$provider/private_key"
  echo "  IdentitiesOnly yes"
  echo "  LogLevel FATAL"
  ;;
ssh)
  [ "$state" = running ] || fail "$name is $state, so vagrant ssh cannot reach it"
  [ "${2:-}" = -c ] && [ "${3:-}" = "ip -4 -o addr show" ] ||
    fail "only 'vagrant ssh NAME -c \"ip -4 -o addr show\"' is supported, not: $*"
  echo "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever"
  echo "2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic eth0\\       valid_lft 86300sec preferred_lft 86300sec"
  echo "3: eth1    inet $address brd $broadcast scope global eth1\\       valid_lft forever preferred_lft forever"
  ;;
*)
  fail "unsupported command: $command $*"
  ;;
esac
`

// fleetctlStandIn is a stand-in for fleetctl 1.0. It reaches no cluster: start records
// the unit as active on the machines the test chose in
// $STANDIN_DIR/fleet/placement/UNIT, and list-units prints the rows that
// files/scripts/fleet.sh reads.
const fleetctlStandIn = `#!/bin/sh
# Stand-in for fleetctl in the engine tests: it talks to no etcd.
set -eu
: "${STANDIN_DIR:?the engine tests set STANDIN_DIR for the stand-ins}"
printf '%s\n' "$(printf '%s ' fleetctl "$@" | tr '\n' ' ' | cut -c1-400)" >> "$STANDIN_DIR/calls.log"

fail() {
  echo "stand-in fleetctl: $*" >&2
  exit 1
}

fleet="$STANDIN_DIR/fleet"
mkdir -p "$fleet/units"
# Global options (--driver, --endpoint, --request-timeout) come before the command.
while [ $# -gt 0 ]; do
  case "$1" in
    --*) shift ;;
    *) break ;;
  esac
done
command=${1:-}
[ $# -gt 0 ] && shift

case "$command" in
start)
  file=""
  for arg in "$@"; do
    case "$arg" in
      -*) ;;
      *) file=$arg ;;
    esac
  done
  [ -f "$file" ] || fail "start needs a unit file, got: $*"
  unit=${file##*/}
  [ -f "$fleet/placement/$unit" ] || fail "the test chose no machine for $unit"
  cat "$fleet/placement/$unit" > "$fleet/start.$$"
  mv -f "$fleet/start.$$" "$fleet/units/$unit"
  while read -r row; do
    echo "Unit $unit launched on $row"
  done < "$fleet/units/$unit"
  ;;
destroy)
  for unit in "$@"; do
    if [ -f "$fleet/units/$unit" ]; then
      rm -f "$fleet/units/$unit"
      echo "Destroyed $unit"
    fi
  done
  ;;
list-units)
  case " $* " in
    *" --fields=unit,machine,active,sub "*) ;;
    *) fail "list-units supports only --fields=unit,machine,active,sub, not: $*" ;;
  esac
  for path in "$fleet/units"/*; do
    [ -f "$path" ] || continue
    while read -r row; do
      printf '%s\t%s\tactive\trunning\n' "${path##*/}" "$row"
    done < "$path"
  done
  ;;
list-machines)
  cat "$fleet/machines"
  ;;
*)
  fail "unsupported command: $command $*"
  ;;
esac
`

// vboxManageStandIn is a stand-in for VBoxManage 7. For `showvminfo ID
// --machinereadable` it prints key=value lines with the VMState of the machine whose id
// the vagrant stand-in wrote, or fails with VBOX_E_OBJECT_NOT_FOUND when that machine
// was destroyed, as VirtualBox does for an unknown VM.
const vboxManageStandIn = `#!/bin/sh
# Stand-in for VBoxManage in the engine tests: it runs no VM.
set -eu
: "${STANDIN_DIR:?the engine tests set STANDIN_DIR for the stand-ins}"
printf '%s\n' "$(printf '%s ' VBoxManage "$@" | tr '\n' ' ' | cut -c1-400)" >> "$STANDIN_DIR/calls.log"
[ "${1:-}" = showvminfo ] && [ "${3:-}" = --machinereadable ] || {
  echo "stand-in VBoxManage: unsupported command: $*" >&2
  exit 1
}
name=${2#standin-}
if [ ! -f "$STANDIN_DIR/vagrant/$name" ]; then
  echo "VBoxManage: error: Could not find a registered machine named '$2'" >&2
  echo "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports" >&2
  exit 1
fi
read -r state provider < "$STANDIN_DIR/vagrant/$name"
printf 'name="%s"\nUUID="%s"\nVMState="%s"\n' "$name" "$2" "$state"
`

// sshStandIn is a stand-in for the OpenSSH client. It connects nowhere: it reads and
// discards what proxy-upload.sh sends (the nginx image and nginx.conf).
const sshStandIn = `#!/bin/sh
# Stand-in for ssh in the engine tests: it connects to no host.
set -eu
: "${STANDIN_DIR:?the engine tests set STANDIN_DIR for the stand-ins}"
printf '%s\n' "$(printf '%s ' ssh "$@" | tr '\n' ' ' | cut -c1-400)" >> "$STANDIN_DIR/calls.log"
cat > /dev/null
`

// standIns is a folder of stand-in programs and the data they read.
type standIns struct {
	// dir holds the data the test writes, the stand-ins' state and calls.log.
	dir string
	// bin holds the programs vagrant, VBoxManage, fleetctl and ssh.
	bin string
}

// allStandIns lists every stand-in, for the tests that run `up`.
var allStandIns = []string{"vagrant", "VBoxManage", "fleetctl", "ssh"}

// installStandIns writes the named stand-ins into a new folder under dir.
func installStandIns(tb testing.TB, dir string, programs []string) *standIns {
	tb.Helper()
	s := &standIns{dir: dir, bin: filepath.Join(dir, "bin")}
	for _, d := range []string{s.bin, filepath.Join(dir, "machines"), filepath.Join(dir, "fleet", "placement")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	scripts := map[string]string{
		"vagrant":    vagrantStandIn,
		"VBoxManage": vboxManageStandIn,
		"fleetctl":   fleetctlStandIn,
		"ssh":        sshStandIn,
	}
	for _, name := range programs {
		text, ok := scripts[name]
		if !ok {
			tb.Fatalf("there is no stand-in for %s", name)
		}
		if err := os.WriteFile(filepath.Join(s.bin, name), []byte(text), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(s.logPath(), nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *standIns) logPath() string {
	return filepath.Join(s.dir, "calls.log")
}

// describe writes what the stand-ins report for the farm of cfg: each machine's address
// (the configured one), SSH port and user, the fleet machines, and the machines fleet
// runs each unit on.
func (s *standIns) describe(tb testing.TB, cfg *model.Config) {
	tb.Helper()
	network := netip.MustParsePrefix(cfg.Network).Masked()
	broadcast := lastAddress(network)
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	machine := func(name, address, user string, port int) {
		write(filepath.Join(s.dir, "machines", name), fmt.Sprintf(
			"address=%s/%d\nbroadcast=%s\nssh_port=%d\nssh_user=%s\n",
			address, network.Bits(), broadcast, port, user))
	}
	// Vagrant forwards guest port 22 of each machine to its own host port from 2200 on.
	machine(cfg.DB.Name, cfg.DB.Address, "vagrant", 2200)
	ids := map[string]string{}
	var fleetMachines strings.Builder
	for i, m := range cfg.Machines {
		machine(m.Name, m.Address, "core", 2201+i)
		sum := sha256.Sum256([]byte(m.Name))
		ids[m.Name] = hex.EncodeToString(sum[:16])
		fmt.Fprintf(&fleetMachines, "%s...\t%s\t%s\n", ids[m.Name][:8], m.Address, m.FleetMetadataString())
	}
	write(filepath.Join(s.dir, "fleet", "machines"), fleetMachines.String())

	plan, err := components.PlanFarm(cfg)
	if err != nil {
		tb.Fatalf("cannot plan the farm for the stand-ins: %v", err)
	}
	addresses := map[string]string{}
	for _, m := range cfg.Machines {
		addresses[m.Name] = m.Address
	}
	// A global unit runs on every candidate. Any other unit goes to the candidate with
	// the fewest units so far, which keeps conflicting processors on different machines.
	load := map[string]int{}
	for _, result := range plan.Placement {
		chosen := result.Candidates
		if !result.Global {
			best := result.Candidates[0]
			for _, c := range result.Candidates {
				if load[c] < load[best] {
					best = c
				}
			}
			chosen = []string{best}
		}
		var rows strings.Builder
		for _, name := range chosen {
			load[name]++
			fmt.Fprintf(&rows, "%s/%s\n", ids[name], addresses[name])
		}
		write(filepath.Join(s.dir, "fleet", "placement", result.Unit), rows.String())
	}
}

func lastAddress(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// calls returns the lines of the stand-ins' call log, one per call: the program name
// followed by its arguments. It leaves out the state queries that the program runs
// while it plans (VBoxManage showvminfo), which change nothing.
func (s *standIns) calls(tb testing.TB) []string {
	tb.Helper()
	var calls []string
	for _, line := range s.log(tb) {
		if !strings.HasPrefix(line, "VBoxManage showvminfo ") {
			calls = append(calls, line)
		}
	}
	return calls
}

// log returns every line of the stand-ins' call log.
func (s *standIns) log(tb testing.TB) []string {
	tb.Helper()
	data, err := os.ReadFile(s.logPath())
	if err != nil {
		tb.Fatalf("cannot read the stand-ins' call log: %v", err)
	}
	text := strings.TrimRight(string(data), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// countCalls counts the logged calls of program with the given command, which is the
// first argument that is not an option (for ssh, pass "" to count every call).
func countCalls(calls []string, program, command string) int {
	n := 0
	for _, line := range calls {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != program {
			continue
		}
		if command == "" {
			n++
			continue
		}
		for _, f := range fields[1:] {
			if !strings.HasPrefix(f, "-") {
				if f == command {
					n++
				}
				break
			}
		}
	}
	return n
}

// powerOff turns the stand-in machine off, as a shutdown outside Pulumi would.
func (s *standIns) powerOff(tb testing.TB, name string) {
	tb.Helper()
	path := filepath.Join(s.dir, "vagrant", name)
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("the stand-in machine %s was never booted: %v", name, err)
	}
	state, provider, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	if state != "running" {
		tb.Fatalf("the stand-in machine %s is %s, not running", name, state)
	}
	if err := os.WriteFile(path, []byte("poweroff "+provider+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// state returns the stand-in machine's state.
func (s *standIns) state(tb testing.TB, name string) string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, "vagrant", name))
	if err != nil {
		return "not_created"
	}
	state, _, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	return state
}

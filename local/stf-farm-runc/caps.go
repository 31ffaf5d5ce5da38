package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// capabilityNumbers maps the capability names of the OCI runtime spec to their bit
// numbers in Linux (include/uapi/linux/capability.h, up to Linux 5.9).
var capabilityNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// capabilitySets are the fields of a spec's process.capabilities.
var capabilitySets = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// boundingSet reads the CapBnd mask from a /proc/<pid>/status file.
func boundingSet(statusPath string) (uint64, error) {
	file, err := os.Open(statusPath)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		value, found := strings.CutPrefix(scanner.Text(), "CapBnd:")
		if !found {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: invalid CapBnd value %q: %w", statusPath, value, err)
		}
		return mask, nil
	}
	if err := scanner.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no CapBnd line", statusPath)
}

// filterSpecFile removes from the spec file at path every capability whose bit is clear
// in bounding. The file is rewritten only when something was removed. A config.json
// holds the process under "process"; an exec process file is the process itself.
func filterSpecFile(path string, bounding uint64) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	// Numbers stay as written (uids, sizes, limits) instead of passing through float64.
	decoder.UseNumber()
	var doc map[string]any
	if err := decoder.Decode(&doc); err != nil {
		return fmt.Errorf("%s: invalid JSON: %w", path, err)
	}
	process := doc
	if filepath.Base(path) == "config.json" {
		nested, ok := doc["process"].(map[string]any)
		if !ok {
			return nil
		}
		process = nested
	}
	if !filterCapabilities(process, bounding) {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return replaceFile(path, out)
}

// filterCapabilities edits process["capabilities"] in place and reports whether it
// removed anything. Names that capabilityNumbers does not know are kept, so that runc
// decides about them.
func filterCapabilities(process map[string]any, bounding uint64) bool {
	caps, ok := process["capabilities"].(map[string]any)
	if !ok {
		return false
	}
	changed := false
	for _, set := range capabilitySets {
		names, ok := caps[set].([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(names))
		for _, name := range names {
			text, _ := name.(string)
			if bit, known := capabilityNumbers[text]; known && bounding&(1<<bit) == 0 {
				changed = true
				continue
			}
			kept = append(kept, name)
		}
		caps[set] = kept
	}
	return changed
}

// replaceFile writes data to path in one rename, keeping the file's mode.
func replaceFile(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stf-farm-runc-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Keys lists every configuration key the program reads, without the namespace.
var Keys = []string{
	"provider", "network", "allowedHostOnlyRanges", "box", "db", "machines", "stf", "docker",
	"unitTimeoutSeconds",
}

// SecretKey is the optional secret setting that signs STF's sessions.
const SecretKey = "stfSecret"

// Decode builds a Config from raw configuration values, keyed without the namespace, as
// Pulumi stores them: plain strings, and JSON for objects and arrays. Unknown fields in
// objects are errors, so a misspelt setting is reported instead of silently ignored.
// Decode applies defaults but does not validate.
func Decode(raw map[string]string) (*Config, error) {
	cfg := &Config{}
	var problems []Problem

	decodeJSON := func(key string, target any, example string) {
		value, ok := raw[key]
		if !ok || strings.TrimSpace(value) == "" {
			return
		}
		dec := json.NewDecoder(bytes.NewBufferString(value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			problems = append(problems, Problem{
				Key:     key,
				Value:   fmt.Sprintf("%q", value),
				Message: "cannot be read: " + err.Error(),
				Fix:     "write it as " + example + " (see Pulumi.dev.yaml)",
			})
		}
	}

	cfg.Provider = raw["provider"]
	cfg.Network = raw["network"]
	decodeJSON("allowedHostOnlyRanges", &cfg.AllowedHostOnlyRanges, "a list of CIDR ranges")
	decodeJSON("box", &cfg.Box, "an object with name, version and url")
	decodeJSON("db", &cfg.DB, "an object with name, address, memory, cpus, box and adminHostPort")
	decodeJSON("machines", &cfg.Machines, "a list of machines with name, address, index, roles, memory, cpus and devices")
	decodeJSON("stf", &cfg.STF, "an object of STF settings")
	decodeJSON("docker", &cfg.Docker, "an object with nodeImage, dbImage and networkName")

	if value, ok := raw["unitTimeoutSeconds"]; ok && value != "" {
		n, err := strconv.Atoi(value)
		if err != nil {
			problems = append(problems, Problem{
				Key:     "unitTimeoutSeconds",
				Value:   fmt.Sprintf("%q", value),
				Message: "not a whole number of seconds",
				Fix:     "set it to a number such as 600",
			})
		}
		cfg.UnitTimeoutSeconds = n
	}

	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
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

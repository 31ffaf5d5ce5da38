package random

import "encoding/json"

// schemaJSON returns the package schema of the parts of the random package
// that this provider implements. Property names, types and secret flags
// follow the official schema.
func schemaJSON() []byte {
	boolean := func(description string) map[string]any {
		return map[string]any{"type": "boolean", "default": true, "description": description}
	}
	minimum := func(description string) map[string]any {
		return map[string]any{"type": "integer", "default": 0, "description": description}
	}
	inputs := map[string]any{
		"keepers": map[string]any{
			"type": "object", "additionalProperties": map[string]any{"type": "string"},
			"description": "Arbitrary values that, when changed, replace the resource and so draw a new password.",
		},
		"length": map[string]any{
			"type":        "integer",
			"description": "The length of the password; at least 1 and at least the sum of the minimums.",
		},
		"lower":           boolean("Include lowercase letters."),
		"upper":           boolean("Include uppercase letters."),
		"numeric":         boolean("Include digits."),
		"number":          boolean("Deprecated name of numeric."),
		"special":         boolean("Include special characters."),
		"minLower":        minimum("Minimum number of lowercase letters."),
		"minUpper":        minimum("Minimum number of uppercase letters."),
		"minNumeric":      minimum("Minimum number of digits."),
		"minSpecial":      minimum("Minimum number of special characters."),
		"overrideSpecial": map[string]any{"type": "string", "description": "The special characters to use instead of the default ones."},
	}
	outputs := map[string]any{
		"result":     map[string]any{"type": "string", "secret": true, "description": "The generated password."},
		"bcryptHash": map[string]any{"type": "string", "secret": true, "description": "A bcrypt hash of the password's first 72 bytes."},
	}
	required := []string{"bcryptHash", "length", "result"}
	for k, v := range inputs {
		outputs[k] = v
		if k != "keepers" && k != "overrideSpecial" && k != "length" {
			required = append(required, k)
		}
	}
	number := inputs["number"].(map[string]any)
	number["deprecationMessage"] = "Use numeric instead."

	schema := map[string]any{
		"name":        "random",
		"version":     Version,
		"description": "Generates random values.",
		"resources": map[string]any{
			PasswordToken: map[string]any{
				"description":     "A random password, kept in the state as a secret.",
				"inputProperties": inputs,
				"requiredInputs":  []string{"length"},
				"properties":      outputs,
				"required":        required,
			},
		},
	}
	out, err := json.Marshal(schema)
	if err != nil {
		// Only maps, slices, strings, numbers and booleans go in, which
		// encoding/json always encodes.
		panic(err)
	}
	return out
}

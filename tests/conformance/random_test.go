package conformance

import (
	"strings"
	"testing"
	"unicode"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const passwordType = "random:index/randomPassword:RandomPassword"

// secretSig marks an encrypted secret value in an exported state.
const secretSig = "4dabf18193072939515e22adb298388d"

// isEncryptedSecret reports whether a value of an exported state is an
// encrypted secret.
func isEncryptedSecret(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, hasCiphertext := m["ciphertext"]
	return m[secretSig] == "1b47061264138c4ac30d75fd1eb44270" && hasCiphertext
}

// A RandomPassword honours its settings, and its result and bcryptHash are
// secrets that the state stores encrypted. A command that gets the password
// through its environment stores that input encrypted too, while its stdout
// stays plain. A keepers change draws a new password, and the command that
// uses it is updated.
func TestPasswordSecretsInState(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rotation := "first"
	s := h.stack(func(ctx *pulumi.Context) error {
		pw, err := random.NewRandomPassword(ctx, "dbPassword", &random.RandomPasswordArgs{
			Length:     pulumi.Int(24),
			Special:    pulumi.Bool(false),
			MinUpper:   pulumi.Int(3),
			MinNumeric: pulumi.Int(3),
			Keepers:    pulumi.StringMap{"rotation": pulumi.String(rotation)},
		})
		if err != nil {
			return err
		}
		usesPassword, err := local.NewCommand(ctx, "usesPassword", &local.CommandArgs{
			Create:      pulumi.String(`echo "length ${#PW}"`),
			Environment: pulumi.StringMap{"PW": pw.Result},
		})
		if err != nil {
			return err
		}
		ctx.Export("password", pw.Result)
		ctx.Export("hash", pw.BcryptHash)
		ctx.Export("stdout", usesPassword.Stdout)
		return nil
	})

	s.up()
	password := checkPassword(t, s)

	pwState := s.resource(passwordType, "dbPassword")
	for _, key := range []string{"result", "bcryptHash"} {
		if !isEncryptedSecret(pwState.Outputs[key]) {
			t.Errorf("the state holds %s of the password as %v, want an encrypted secret", key, pwState.Outputs[key])
		}
	}
	for key, want := range map[string]any{"length": 24.0, "special": false, "minUpper": 3.0, "minNumeric": 3.0} {
		if got := pwState.Outputs[key]; got != want {
			t.Errorf("the state holds %s = %v, want %v", key, got, want)
		}
	}
	cmdState := s.resource(commandType, "usesPassword")
	env, _ := cmdState.Outputs["environment"].(map[string]any)
	if !isEncryptedSecret(cmdState.Outputs["environment"]) && !isEncryptedSecret(env["PW"]) {
		t.Errorf("the command's environment is stored as %v, want the password encrypted", cmdState.Outputs["environment"])
	}
	if got := cmdState.Outputs["stdout"]; got != "length 24" {
		t.Errorf("the command's stdout is stored as %v, want the plain text %q", got, "length 24")
	}
	if out := s.output("stdout"); out.Secret || out.Value != "length 24" {
		t.Errorf("the stdout output is %+v, want the plain text %q", out, "length 24")
	}
	if _, raw := s.deployment(); strings.Contains(raw, password) {
		t.Error("the exported state contains the password in plain text")
	}

	rotation = "second"
	res := s.up()
	if got := changes(res.Summary.ResourceChanges, "replace"); got != 1 {
		t.Fatalf("changing keepers replaced %d resources, want 1 (summary %v)", got, *res.Summary.ResourceChanges)
	}
	if got := changes(res.Summary.ResourceChanges, "update"); got != 1 {
		t.Fatalf("a new password updated %d commands, want 1 (summary %v)", got, *res.Summary.ResourceChanges)
	}
	if next := checkPassword(t, s); next == password {
		t.Fatal("changing keepers kept the same password")
	}
}

// checkPassword reads the password and its hash from the stack outputs,
// checks them against the program's settings and returns the password.
func checkPassword(t *testing.T, s *testStack) string {
	t.Helper()
	out := s.output("password")
	if !out.Secret {
		t.Fatal("the password output is not a secret")
	}
	password, _ := out.Value.(string)

	if len(password) != 24 {
		t.Fatalf("the password has %d characters, want 24", len(password))
	}
	var upper, digits int
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsDigit(r):
			digits++
		case unicode.IsLower(r):
		default:
			t.Fatalf("the password contains %q although special characters are off", r)
		}
	}
	if upper < 3 || digits < 3 {
		t.Fatalf("the password has %d uppercase letters and %d digits, want at least 3 of each", upper, digits)
	}

	hash := s.output("hash")
	hashText, _ := hash.Value.(string)
	if !hash.Secret || !strings.HasPrefix(hashText, "$2") || len(hashText) != 60 {
		t.Fatalf("the bcrypt hash output is %+v, want a secret 60-character bcrypt hash", hash)
	}
	return password
}

package random

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"stf-farm/tools/internal/providerkit"
)

const testURN = "urn:pulumi:dev::proj::random:index/randomPassword:RandomPassword::pw"

func encode(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := providerkit.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decode(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := providerkit.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGenerateHonoursSettings(t *testing.T) {
	override := "#"
	for range 50 {
		pw, err := generate(passwordSettings{
			Length: 20, Lower: true, Upper: false, Numeric: false, Special: true,
			MinUpper: 2, MinNumeric: 3, MinSpecial: 1, OverrideSpecial: &override,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != 20 {
			t.Fatalf("%q has length %d", pw, len(pw))
		}
		var upper, digits, special int
		for _, c := range pw {
			switch {
			case strings.ContainsRune(upperChars, c):
				upper++
			case strings.ContainsRune(numericChars, c):
				digits++
			case c == '#':
				special++
			case strings.ContainsRune(lowerChars, c):
			default:
				t.Fatalf("%q contains %q, which no setting allows", pw, c)
			}
		}
		// Upper and numeric are off, so exactly the minimums appear.
		if upper != 2 || digits != 3 || special < 1 {
			t.Fatalf("%q has %d upper, %d digits, %d special", pw, upper, digits, special)
		}
	}
}

func TestGenerateRejectsImpossibleSettings(t *testing.T) {
	if _, err := generate(passwordSettings{Length: 2, MinLower: 3}); err == nil {
		t.Error("minimums above the length were accepted")
	}
	if _, err := generate(passwordSettings{Length: 4}); err == nil {
		t.Error("a password with no character class was accepted")
	}
}

func TestCheckFillsDefaultsAndKeepsNumberInStep(t *testing.T) {
	p := New(nil)
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: testURN,
		News: encode(t, resource.PropertyMap{
			"length": resource.NewNumberProperty(12),
			"number": resource.NewBoolProperty(false),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 0 {
		t.Fatalf("unexpected failures %v", resp.Failures)
	}
	in := decode(t, resp.Inputs)
	want := resource.PropertyMap{
		"length": resource.NewNumberProperty(12), "number": resource.NewBoolProperty(false),
		"numeric": resource.NewBoolProperty(false), "lower": resource.NewBoolProperty(true),
		"upper": resource.NewBoolProperty(true), "special": resource.NewBoolProperty(true),
		"minLower": resource.NewNumberProperty(0), "minUpper": resource.NewNumberProperty(0),
		"minNumeric": resource.NewNumberProperty(0), "minSpecial": resource.NewNumberProperty(0),
	}
	if !in.DeepEquals(want) {
		t.Fatalf("checked inputs %v, want %v", in, want)
	}
}

func TestCheckReportsBadInputs(t *testing.T) {
	p := New(nil)
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: testURN,
		News: encode(t, resource.PropertyMap{
			"length":   resource.NewNumberProperty(2),
			"minLower": resource.NewNumberProperty(3),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 1 || resp.Failures[0].Property != "length" {
		t.Fatalf("failures %v, want one for length", resp.Failures)
	}

	resp, err = p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: encode(t, resource.PropertyMap{})})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 1 || !strings.Contains(resp.Failures[0].Reason, "required") {
		t.Fatalf("failures %v, want length to be required", resp.Failures)
	}
}

func TestCreateProducesSecretPasswordAndHash(t *testing.T) {
	p := New(nil)
	inputs := resource.PropertyMap{"length": resource.NewNumberProperty(80), "special": resource.NewBoolProperty(false)}
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: encode(t, inputs)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Id != "none" {
		t.Fatalf("id %q, want none", resp.Id)
	}
	state := decode(t, resp.Properties)
	if !state["result"].IsSecret() || !state["bcryptHash"].IsSecret() {
		t.Fatalf("result and bcryptHash must be secrets: %v", state)
	}
	password := state["result"].SecretValue().Element.StringValue()
	hash := state["bcryptHash"].SecretValue().Element.StringValue()
	if len(password) != 80 {
		t.Fatalf("password of length %d", len(password))
	}
	// Passwords longer than bcrypt's limit are hashed on their first 72 bytes.
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password[:72])); err != nil {
		t.Fatalf("the hash does not match the password: %v", err)
	}
}

func TestDiffAlwaysReplaces(t *testing.T) {
	p := New(nil)
	olds := resource.PropertyMap{
		"length":  resource.NewNumberProperty(10),
		"keepers": resource.NewObjectProperty(resource.PropertyMap{"k": resource.NewStringProperty("1")}),
		"result":  resource.MakeSecret(resource.NewStringProperty("abc")),
	}
	news := resource.PropertyMap{
		"length":  resource.NewNumberProperty(10),
		"keepers": resource.NewObjectProperty(resource.PropertyMap{"k": resource.NewStringProperty("2")}),
	}
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testURN, Olds: encode(t, olds), News: encode(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(resp.Replaces, ",") != "keepers" {
		t.Fatalf("a keepers change gave %v, want a replacement", resp)
	}
	news["keepers"] = olds["keepers"]
	resp, err = p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testURN, Olds: encode(t, olds), News: encode(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("unchanged inputs gave %v", resp)
	}
}

func TestImportUsesIDAsPassword(t *testing.T) {
	p := New(nil)
	resp, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Urn: testURN, Id: "imported-pass"})
	if err != nil {
		t.Fatal(err)
	}
	state := decode(t, resp.Properties)
	if resp.Id != "none" || state["result"].SecretValue().Element.StringValue() != "imported-pass" ||
		state["length"].NumberValue() != float64(len("imported-pass")) {
		t.Fatalf("import gave id %q and state %v", resp.Id, state)
	}
}

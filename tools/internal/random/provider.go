// Package random implements a stand-in for the official "random" provider.
// It offers the random:index/randomPassword:RandomPassword resource with the
// official type token, property names and plugin version, so that the
// generated random SDK works with it unchanged.
//
// Behaviour, as in the official provider:
//   - Check fills in the defaults: lower, upper, numeric, number and special
//     are true, the minimums are 0. "number" is the deprecated name of
//     "numeric"; the two always hold the same value.
//   - Every input change, keepers included, replaces the resource, which
//     draws a new password.
//   - The password ("result") and its bcrypt hash ("bcryptHash") are secret
//     outputs. The password comes from crypto/rand.
//   - The resource id is "none". Importing takes the password as the id.
//
// Other resources of the random package are not implemented.
package random

import (
	"context"
	"fmt"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"stf-farm/tools/internal/providerkit"
)

// Version is the plugin version reported to the engine. It must equal the
// version that the random SDK in the main module requests, so the build in
// tools.mk sets it from the same variable that names the installed plugin.
var Version = "4.21.2"

// PasswordToken is the type token of the RandomPassword resource.
const PasswordToken = "random:index/randomPassword:RandomPassword"

// passwordID is the id of every RandomPassword, as in the official provider.
const passwordID = "none"

// bcryptLimit is the longest input bcrypt accepts; longer passwords are
// hashed on their first 72 bytes, as the official provider documents.
const bcryptLimit = 72

var boolKeys = []string{"lower", "upper", "numeric", "number", "special"}

var minKeys = []string{"minLower", "minUpper", "minNumeric", "minSpecial"}

// inputKeys lists the input properties of RandomPassword.
var inputKeys = append(append([]string{"keepers", "length", "overrideSpecial"}, boolKeys...), minKeys...)

// Provider serves the random package.
type Provider struct {
	providerkit.Base
}

// New returns a provider that logs through host (which may be nil).
func New(host *provider.HostClient) *Provider {
	return &Provider{Base: providerkit.NewBase(host, "random", Version, schemaJSON())}
}

func checkType(token string) error {
	if token != "" && token != PasswordToken {
		return fmt.Errorf("this build of the random provider only implements %s, not %q", PasswordToken, token)
	}
	return nil
}

// Check validates the inputs and fills in the defaults.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	news, err := providerkit.Decode(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures providerkit.Failures
	failures.Unexpected(news, PasswordToken, inputKeys)
	if _, ok := news["length"]; !ok {
		failures.Add("length", "length is required")
	}
	failures.Integer(news, "length", 1)
	for _, k := range minKeys {
		failures.Integer(news, k, 0)
	}
	for _, k := range boolKeys {
		failures.Bool(news, k)
	}
	failures.String(news, "overrideSpecial")
	failures.StringMap(news, "keepers")

	// "number" is the deprecated spelling of "numeric": one given value is
	// copied to the other, and two given values must agree.
	number, hasNumber := news["number"]
	numeric, hasNumeric := news["numeric"]
	switch {
	case hasNumber && !hasNumeric:
		news["numeric"] = number
	case hasNumeric && !hasNumber:
		news["number"] = numeric
	case hasNumber && hasNumeric && !providerkit.IsUnknown(number) && !providerkit.IsUnknown(numeric) &&
		!providerkit.Reveal(number).DeepEquals(providerkit.Reveal(numeric)):
		failures.Add("number", "number is the deprecated name of numeric and must have the same value; use numeric only")
	}
	for _, k := range boolKeys {
		if _, ok := news[resource.PropertyKey(k)]; !ok {
			news[resource.PropertyKey(k)] = resource.NewBoolProperty(true)
		}
	}
	for _, k := range minKeys {
		if _, ok := news[resource.PropertyKey(k)]; !ok {
			news[resource.PropertyKey(k)] = resource.NewNumberProperty(0)
		}
	}

	if len(failures) == 0 && !providerkit.RevealMap(news).ContainsUnknowns() {
		s := settingsOf(news)
		if sum := s.MinLower + s.MinUpper + s.MinNumeric + s.MinSpecial; sum > s.Length {
			failures.Add("length", "length (%d) must be at least minLower + minUpper + minNumeric + minSpecial (%d)",
				s.Length, sum)
		}
	}

	inputs, err := providerkit.Encode(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

// Diff reports changed inputs; every change replaces the password.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := providerkit.Decode(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := providerkit.Decode(req.GetNews())
	if err != nil {
		return nil, err
	}
	always := func(string) bool { return true }
	return providerkit.DiffInputs(olds, news, inputKeys, always, req.GetIgnoreChanges()), nil
}

// Create draws a new password (except during a preview).
func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	inputs, err := providerkit.Decode(req.GetProperties())
	if err != nil {
		return nil, err
	}
	state := providerkit.Pick(inputs, inputKeys)
	if req.GetPreview() {
		state["result"] = resource.MakeComputed(resource.NewStringProperty(""))
		state["bcryptHash"] = resource.MakeComputed(resource.NewStringProperty(""))
		return encodeCreate("", state)
	}
	password, err := generate(settingsOf(inputs))
	if err != nil {
		return nil, err
	}
	if err := setPassword(state, password); err != nil {
		return nil, err
	}
	return encodeCreate(passwordID, state)
}

// Update records the new inputs and keeps the password. Since Diff turns
// every change into a replacement, the engine has no reason to call it.
func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := providerkit.Decode(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := providerkit.Decode(req.GetNews())
	if err != nil {
		return nil, err
	}
	state := providerkit.Pick(news, inputKeys)
	state["result"] = olds["result"]
	state["bcryptHash"] = olds["bcryptHash"]
	encoded, err := providerkit.Encode(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: encoded}, nil
}

// Delete has nothing to remove.
func (p *Provider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Read returns the recorded state unchanged on a refresh. On an import the
// id is the password itself; the other inputs take their defaults and the
// length of the given password.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if len(req.GetProperties().GetFields()) > 0 {
		inputs := req.GetInputs()
		if inputs == nil {
			state, err := providerkit.Decode(req.GetProperties())
			if err != nil {
				return nil, err
			}
			if inputs, err = providerkit.Encode(providerkit.Pick(state, inputKeys)); err != nil {
				return nil, err
			}
		}
		return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: inputs}, nil
	}

	password := req.GetId()
	if password == "" {
		return nil, fmt.Errorf("importing a %s needs the password as the id", PasswordToken)
	}
	inputs := resource.PropertyMap{"length": resource.NewNumberProperty(float64(len(password)))}
	for _, k := range boolKeys {
		inputs[resource.PropertyKey(k)] = resource.NewBoolProperty(true)
	}
	for _, k := range minKeys {
		inputs[resource.PropertyKey(k)] = resource.NewNumberProperty(0)
	}
	state := inputs.Copy()
	if err := setPassword(state, password); err != nil {
		return nil, err
	}
	encodedState, err := providerkit.Encode(state)
	if err != nil {
		return nil, err
	}
	encodedInputs, err := providerkit.Encode(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: passwordID, Properties: encodedState, Inputs: encodedInputs}, nil
}

// setPassword records the password and its bcrypt hash, both as secrets.
func setPassword(state resource.PropertyMap, password string) error {
	hashed := []byte(password)
	if len(hashed) > bcryptLimit {
		hashed = hashed[:bcryptLimit]
	}
	hash, err := bcrypt.GenerateFromPassword(hashed, bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	state["result"] = resource.MakeSecret(resource.NewStringProperty(password))
	state["bcryptHash"] = resource.MakeSecret(resource.NewStringProperty(string(hash)))
	return nil
}

// settingsOf reads checked inputs; missing or mistyped values count as their
// defaults, since Check has already reported them.
func settingsOf(m resource.PropertyMap) passwordSettings {
	plain := providerkit.RevealMap(m)
	boolean := func(key string) bool {
		v := plain[resource.PropertyKey(key)]
		return !v.IsBool() || v.BoolValue()
	}
	integer := func(key string) int {
		if v := plain[resource.PropertyKey(key)]; v.IsNumber() {
			return int(v.NumberValue())
		}
		return 0
	}
	s := passwordSettings{
		Length:     integer("length"),
		Lower:      boolean("lower"),
		Upper:      boolean("upper"),
		Numeric:    boolean("numeric") && boolean("number"),
		Special:    boolean("special"),
		MinLower:   integer("minLower"),
		MinUpper:   integer("minUpper"),
		MinNumeric: integer("minNumeric"),
		MinSpecial: integer("minSpecial"),
	}
	if v := plain["overrideSpecial"]; v.IsString() {
		special := v.StringValue()
		s.OverrideSpecial = &special
	}
	return s
}

func encodeCreate(id string, state resource.PropertyMap) (*pulumirpc.CreateResponse, error) {
	encoded, err := providerkit.Encode(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: encoded}, nil
}

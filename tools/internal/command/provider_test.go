package command

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"stf-farm/tools/internal/providerkit"
)

const testURN = "urn:pulumi:dev::proj::command:local:Command::example"

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

func TestCheckAddsDefaultAndRejectsUnsupportedInputs(t *testing.T) {
	p := New(nil)
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn:  testURN,
		News: encode(t, resource.PropertyMap{"create": resource.NewStringProperty("true")}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 0 {
		t.Fatalf("unexpected failures %v", resp.Failures)
	}
	if got := decode(t, resp.Inputs)["addPreviousOutputInEnv"]; !got.IsBool() || !got.BoolValue() {
		t.Fatalf("addPreviousOutputInEnv is %v, want the default true", got)
	}

	resp, err = p.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: testURN,
		News: encode(t, resource.PropertyMap{
			"create":     resource.NewNumberProperty(1),
			"logging":    resource.NewStringProperty("loud"),
			"assetPaths": resource.NewArrayProperty(nil),
			"bogus":      resource.NewStringProperty("x"),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.Failures {
		failed = append(failed, f.Property)
	}
	if got := strings.Join(failed, ","); got != "bogus,logging,assetPaths,create" {
		t.Fatalf("failures for %s, want bogus,logging,assetPaths,create", got)
	}
}

func TestDiffReplacesOnlyForTriggers(t *testing.T) {
	p := New(nil)
	olds := resource.PropertyMap{
		"create":      resource.NewStringProperty("echo a"),
		"environment": resource.NewObjectProperty(resource.PropertyMap{"A": resource.NewStringProperty("1")}),
		"triggers":    resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("t1")}),
		"stdout":      resource.NewStringProperty("a"),
	}
	diff := func(news resource.PropertyMap) *pulumirpc.DiffResponse {
		t.Helper()
		resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{
			Urn: testURN, Olds: encode(t, olds), News: encode(t, news),
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	same := olds.Copy()
	delete(same, "stdout")
	// Making a value secret without changing it is not a change.
	same["create"] = resource.MakeSecret(resource.NewStringProperty("echo a"))
	if resp := diff(same); resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("identical inputs gave %v", resp)
	}

	env := same.Copy()
	env["environment"] = resource.NewObjectProperty(resource.PropertyMap{"A": resource.NewStringProperty("2")})
	resp := diff(env)
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 {
		t.Fatalf("an environment change gave %v, want an update", resp)
	}
	if k := resp.DetailedDiff["environment.A"]; k == nil || k.Kind != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("detailed diff %v lacks an update of environment.A", resp.DetailedDiff)
	}

	trig := same.Copy()
	trig["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("t2")})
	resp = diff(trig)
	if strings.Join(resp.Replaces, ",") != "triggers" || resp.DeleteBeforeReplace {
		t.Fatalf("a triggers change gave %v, want a replacement on triggers", resp)
	}
	if k := resp.DetailedDiff["triggers[0]"]; k == nil || k.Kind != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("detailed diff %v lacks an update-replace of triggers[0]", resp.DetailedDiff)
	}

	unknown := same.Copy()
	unknown["create"] = resource.MakeComputed(resource.NewStringProperty(""))
	if resp := diff(unknown); resp.Changes != pulumirpc.DiffResponse_DIFF_SOME {
		t.Fatalf("an unknown command gave %v, want a change", resp)
	}
}

func TestCreatePreviewRunsNothingAndOutputsAreUnknown(t *testing.T) {
	p := New(nil)
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn:        testURN,
		Preview:    true,
		Properties: encode(t, resource.PropertyMap{"create": resource.NewStringProperty("exit 1")}),
	})
	if err != nil {
		t.Fatal(err)
	}
	state := decode(t, resp.Properties)
	if !state["stdout"].IsComputed() || !state["stderr"].IsComputed() {
		t.Fatalf("preview state %v, want unknown stdout and stderr", state)
	}
}

func TestCreateKeepsInputSecretnessButNotForStdout(t *testing.T) {
	p := New(nil)
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN,
		Properties: encode(t, resource.PropertyMap{
			"create": resource.NewStringProperty("echo $TOKEN"),
			"environment": resource.NewObjectProperty(resource.PropertyMap{
				"TOKEN": resource.MakeSecret(resource.NewStringProperty("s3cret")),
			}),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Id, "example") {
		t.Fatalf("id %q does not start with the resource name", resp.Id)
	}
	state := decode(t, resp.Properties)
	if !state["environment"].ContainsSecrets() {
		t.Fatalf("the echoed environment lost its secret: %v", state["environment"])
	}
	if got := state["stdout"]; !got.IsString() || got.StringValue() != "s3cret" {
		t.Fatalf("stdout is %v, want the plain string", got)
	}
}

func TestCancelStopsRunningCommand(t *testing.T) {
	p := New(nil)
	errs := make(chan error, 1)
	go func() {
		_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
			Urn:        testURN,
			Properties: encode(t, resource.PropertyMap{"create": resource.NewStringProperty("sleep 300")}),
		})
		errs <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := p.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, providerkit.ErrCanceled) {
			t.Fatalf("got %v, want a cancellation error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command kept running after Cancel")
	}
}

func TestUpdateAndDeleteSeePreviousOutput(t *testing.T) {
	p := New(nil)
	olds := resource.PropertyMap{
		"create": resource.NewStringProperty("echo first"),
		"delete": resource.NewStringProperty(`test "$PULUMI_COMMAND_STDOUT" = second`),
		"stdout": resource.NewStringProperty("first"),
		"stderr": resource.NewStringProperty(""),
	}
	news := resource.PropertyMap{
		"create": resource.NewStringProperty(`echo "create-again saw $PULUMI_COMMAND_STDOUT"`),
	}
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Urn: testURN, Olds: encode(t, olds), News: encode(t, news),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, resp.Properties)["stdout"].StringValue(); got != "create-again saw first" {
		t.Fatalf("update printed %q", got)
	}

	olds["stdout"] = resource.NewStringProperty("second")
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Urn: testURN, Properties: encode(t, olds),
	}); err != nil {
		t.Fatalf("delete did not see the previous stdout: %v", err)
	}
}

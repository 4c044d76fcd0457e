// Package deploy_test validates the deployment examples in deploy/: the Kubernetes manifests
// against the Kubernetes API's own OpenAPI schemas with kubeconform, the HAProxy example with
// `haproxy -c`, and the container's premise that popwire builds as a static binary.
package deploy_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The versions of the validator and of the Kubernetes API the manifests are checked against.
// The OpenAPI v3 documents come in the k8s.io/kubernetes module (api/openapi-spec/v3), fetched
// through the Go module proxy like any module: kubeconform's default schema location is a
// GitHub URL that CI cannot reach.
const (
	kubeconform       = "github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0"
	kubernetesModule  = "k8s.io/kubernetes@v1.34.2"
	kubernetesVersion = "1.34.2"
)

// required is true when POPWIRE_E2E=require: a missing tool then fails the test.
var required = os.Getenv("POPWIRE_E2E") == "require"

func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if required {
			t.Fatalf("%s is not installed (POPWIRE_E2E=require)", tool)
		}
		t.Skipf("%s is not installed", tool)
	}
	return p
}

// kinds names the OpenAPI v3 document and schema of each kind the manifests use, and the file
// name kubeconform looks for ({{.ResourceKind}}{{.KindSuffix}}.json).
var kinds = []struct{ doc, schema, file string }{
	{"api__v1_openapi.json", "io.k8s.api.core.v1.ConfigMap", "configmap-v1.json"},
	{"api__v1_openapi.json", "io.k8s.api.core.v1.Service", "service-v1.json"},
	{"apis__apps__v1_openapi.json", "io.k8s.api.apps.v1.Deployment", "deployment-apps-v1.json"},
	{"apis__policy__v1_openapi.json", "io.k8s.api.policy.v1.PodDisruptionBudget", "poddisruptionbudget-policy-v1.json"},
}

// schemas writes a standalone JSON schema per kind into a new directory and returns it. Each
// is the kind's OpenAPI v3 document with the root pointing at the kind; as kubeconform's own
// strict schemas do, every object schema that lists its properties gets
// "additionalProperties": false, so an unknown or misspelt field is an error.
func schemas(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", kubernetesModule).Output()
	if err != nil {
		msg := err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg += ": " + string(ee.Stderr) + string(out)
		}
		if required {
			t.Fatalf("go mod download %s: %s", kubernetesModule, msg)
		}
		t.Skipf("go mod download %s: %s", kubernetesModule, msg)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, k := range kinds {
		raw, err := os.ReadFile(filepath.Join(mod.Dir, "api", "openapi-spec", "v3", k.doc))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		components, ok := doc["components"].(map[string]any)
		if !ok {
			t.Fatalf("%s: no components", k.doc)
		}
		all, ok := components["schemas"].(map[string]any)
		if !ok || all[k.schema] == nil {
			t.Fatalf("%s: no schema %s", k.doc, k.schema)
		}
		for _, s := range all {
			closeObjects(s)
		}
		schema := map[string]any{
			"$ref":       "#/components/schemas/" + k.schema,
			"components": map[string]any{"schemas": all},
		}
		b, err := json.Marshal(schema)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, k.file), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// closeObjects sets "additionalProperties": false on every schema in v that has properties
// and says nothing about additional ones.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["properties"]; ok {
			if _, set := v["additionalProperties"]; !set {
				v["additionalProperties"] = false
			}
		}
		for _, c := range v {
			closeObjects(c)
		}
	case []any:
		for _, c := range v {
			closeObjects(c)
		}
	}
}

// runKubeconform validates files against the schemas in dir and returns its output.
func runKubeconform(t *testing.T, dir string, files ...string) (string, error) {
	t.Helper()
	args := append([]string{"run", kubeconform, "-strict", "-summary",
		"-kubernetes-version", kubernetesVersion,
		"-schema-location", filepath.Join(dir, "{{.ResourceKind}}{{.KindSuffix}}.json")}, files...)
	cmd := exec.Command("go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func manifests(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	return files
}

// TestKubernetesManifests validates every manifest, and shows that the validator rejects a
// manifest with a misspelt field and one with a value of the wrong type.
func TestKubernetesManifests(t *testing.T) {
	dir := schemas(t)
	files := manifests(t)
	out, err := runKubeconform(t, dir, files...)
	if err != nil {
		t.Fatalf("kubeconform: %v\n%s", err, out)
	}
	// Every resource of every file was checked: kubeconform says "Valid: N" and skips
	// nothing (a kind without a schema would be an error, not a skip).
	if !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") {
		t.Fatalf("kubeconform summary: %s", out)
	}
	deployment, err := os.ReadFile(filepath.Join("kubernetes", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]string{
		"misspelt field": strings.Replace(string(deployment), "readOnlyRootFilesystem:", "readOnlyRootFileSystem:", 1),
		"wrong type":     strings.Replace(string(deployment), "replicas: 2", "replicas: two", 1),
	} {
		if broken == string(deployment) {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		f := filepath.Join(t.TempDir(), "deployment.yaml")
		if err := os.WriteFile(f, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runKubeconform(t, dir, f)
		if err == nil {
			t.Errorf("%s: kubeconform accepted it:\n%s", name, out)
		}
		t.Logf("%s: %s", name, out)
	}
}

// TestHAProxyExample checks the HAProxy example with HAProxy's own parser.
func TestHAProxyExample(t *testing.T) {
	haproxy := need(t, "haproxy")
	out, err := exec.Command(haproxy, "-c", "-f", filepath.Join("haproxy", "haproxy.cfg")).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Configuration file is valid")) {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// TestStaticBinary builds popwire as the Dockerfile does and checks that the result needs no
// dynamic loader: the distroless static image has no libc.
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(staticBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary links shared libraries: %v", libs)
	}
}

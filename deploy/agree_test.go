package deploy_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/popwire/popwire/internal/config"
)

// The files whose settings must agree, by path under deploy/.
const (
	configMapFile  = "kubernetes/configmap.yaml"
	deploymentFile = "kubernetes/deployment.yaml"
	serviceFile    = "kubernetes/service.yaml"
	pdbFile        = "kubernetes/pdb.yaml"
	haproxyFile    = "haproxy/haproxy.cfg"
	dockerFile     = "Dockerfile"
)

// configKey is the ConfigMap's key that holds popwire's configuration file.
const configKey = "popwire.yaml"

// deployFiles reads the files of deploy/ that agreeing checks.
func deployFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, name := range []string{configMapFile, deploymentFile, serviceFile, pdbFile, haproxyFile, dockerFile} {
		data, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(data)
	}
	return files
}

// The parts of the Kubernetes objects that the checks read.
type (
	objectMeta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	configMap struct {
		Kind     string            `yaml:"kind"`
		Metadata objectMeta        `yaml:"metadata"`
		Data     map[string]string `yaml:"data"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"` // a name or a number
		} `yaml:"httpGet"`
	}
	securityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	}
	container struct {
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe   probe           `yaml:"livenessProbe"`
		ReadinessProbe  probe           `yaml:"readinessProbe"`
		SecurityContext securityContext `yaml:"securityContext"`
		VolumeMounts    []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	keyToPath struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
	volume struct {
		Name      string `yaml:"name"`
		Projected *struct {
			Sources []struct {
				ConfigMap *struct {
					Name  string      `yaml:"name"`
					Items []keyToPath `yaml:"items"`
				} `yaml:"configMap"`
				Secret *struct {
					Name  string      `yaml:"name"`
					Items []keyToPath `yaml:"items"`
				} `yaml:"secret"`
			} `yaml:"sources"`
		} `yaml:"projected"`
	}
	deployment struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Selector selector `yaml:"selector"`
			Template struct {
				Metadata objectMeta `yaml:"metadata"`
				Spec     struct {
					SecurityContext securityContext `yaml:"securityContext"`
					Containers      []container     `yaml:"containers"`
					Volumes         []volume        `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	service struct {
		Kind     string     `yaml:"kind"`
		Metadata objectMeta `yaml:"metadata"`
		Spec     struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				TargetPort any    `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	pdb struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Selector selector `yaml:"selector"`
		} `yaml:"spec"`
	}
)

// decodeAll decodes every YAML document of text into a new T each.
func decodeAll[T any](name, text string) ([]T, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var out []T
	for {
		var v T
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, v)
	}
}

// decodeOne decodes the one YAML document of text.
func decodeOne[T any](name, text string) (T, error) {
	var zero T
	all, err := decodeAll[T](name, text)
	if err != nil {
		return zero, err
	}
	if len(all) != 1 {
		return zero, fmt.Errorf("%s: %d documents, want 1", name, len(all))
	}
	return all[0], nil
}

// popwireConfig returns the configuration file in the ConfigMap of files.
func popwireConfig(files map[string]string) (string, error) {
	cm, err := decodeOne[configMap](configMapFile, files[configMapFile])
	if err != nil {
		return "", err
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "popwire-config" {
		return "", fmt.Errorf("%s: %s %q, want the ConfigMap popwire-config", configMapFile, cm.Kind, cm.Metadata.Name)
	}
	text, ok := cm.Data[configKey]
	if !ok {
		return "", fmt.Errorf("%s: no key %s", configMapFile, configKey)
	}
	return text, nil
}

// port returns the port of a HOST:PORT.
func port(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// agreement returns every way in which the files of deploy/ disagree with one another or with
// what the deployment needs: the Deployment's probes ask /healthz and /readyz on the metrics
// port of the configuration; its pod may not gain privileges, runs as non-root with all
// capabilities dropped on a read-only root filesystem; it mounts the ConfigMap where its
// arguments and the Dockerfile read the file, and the Secret where the configuration reads the
// certificate; the Service's target ports and the PDB's selector match the pod; the log is JSON
// lines on stdout, as the Dockerfile says; HAProxy's backends use the configuration's listener
// ports and check its metrics port.
func agreement(files map[string]string) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	text, err := popwireConfig(files)
	if err != nil {
		return []string{err.Error()}
	}
	cfg, err := config.Parse(configMapFile+": "+configKey, []byte(text))
	if err != nil {
		return []string{err.Error()}
	}
	metricsPort, err := port(cfg.Metrics.Listen)
	if err != nil {
		return []string{fmt.Sprintf("%s: metrics.listen %q: %v", configMapFile, cfg.Metrics.Listen, err)}
	}
	var listenPorts []int
	for _, r := range cfg.Routes {
		for _, l := range r.Listeners {
			p, err := port(l.Address)
			if err != nil {
				fail("%s: listener %q: %v", configMapFile, l.Address, err)
			}
			listenPorts = append(listenPorts, p)
		}
	}
	slices.Sort(listenPorts)
	if cfg.Log.File != "/dev/stdout" || cfg.Log.Format != "none" {
		fail("%s: log file %q, format %q: want JSON lines on stdout (file /dev/stdout) and nothing on stderr (format none)", configMapFile, cfg.Log.File, cfg.Log.Format)
	}
	if !strings.Contains(files[dockerFile], "the log goes to stdout as JSON lines") {
		fail("%s no longer says the log goes to stdout as JSON lines", dockerFile)
	}

	dep, err := decodeOne[deployment](deploymentFile, files[deploymentFile])
	if err != nil {
		return append(bad, err.Error())
	}
	pod := dep.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		return append(bad, fmt.Sprintf("%s: %d containers, want 1", deploymentFile, len(pod.Spec.Containers)))
	}
	c := pod.Spec.Containers[0]
	named := map[string]int{}
	var containerPorts []int
	for _, p := range c.Ports {
		named[p.Name] = p.ContainerPort
		containerPorts = append(containerPorts, p.ContainerPort)
	}
	resolve := func(p any) int {
		switch p := p.(type) {
		case int:
			return p
		case string:
			return named[p]
		}
		return 0
	}
	for _, want := range append(slices.Clone(listenPorts), metricsPort) {
		if !slices.Contains(containerPorts, want) {
			fail("%s: no containerPort %d (the configuration listens on it)", deploymentFile, want)
		}
	}
	for _, pr := range []struct {
		what, path string
		probe      probe
	}{{"livenessProbe", "/healthz", c.LivenessProbe}, {"readinessProbe", "/readyz", c.ReadinessProbe}} {
		switch g := pr.probe.HTTPGet; {
		case g == nil:
			fail("%s: %s is not an httpGet", deploymentFile, pr.what)
		case g.Path != pr.path || resolve(g.Port) != metricsPort:
			fail("%s: %s asks %s on port %v (%d), want %s on the metrics port %d", deploymentFile, pr.what, g.Path, g.Port, resolve(g.Port), pr.path, metricsPort)
		}
	}
	sc, podSC := c.SecurityContext, pod.Spec.SecurityContext
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		fail("%s: the container drops capabilities %v, want ALL", deploymentFile, sc.Capabilities.Drop)
	}
	if nonRoot := cmp.Or(sc.RunAsNonRoot, podSC.RunAsNonRoot); nonRoot == nil || !*nonRoot {
		fail("%s: runAsNonRoot is not true", deploymentFile)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		fail("%s: readOnlyRootFilesystem is not true", deploymentFile)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		fail("%s: allowPrivilegeEscalation is not false", deploymentFile)
	}

	// Where the pod's files are: each item of the config volume, under its mount path.
	mounted := map[string]string{} // path in the container → "configmap KEY" or "secret KEY"
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name != m.Name || v.Projected == nil {
				continue
			}
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil && s.ConfigMap.Name == "popwire-config" {
					for _, it := range s.ConfigMap.Items {
						mounted[path.Join(m.MountPath, it.Path)] = "configmap " + it.Key
					}
				}
				if s.Secret != nil && s.Secret.Name == "popwire-tls" {
					for _, it := range s.Secret.Items {
						mounted[path.Join(m.MountPath, it.Path)] = "secret " + it.Key
					}
				}
			}
		}
	}
	configPath := ""
	if i := slices.Index(c.Args, "--config"); i >= 0 && i+1 < len(c.Args) {
		configPath = c.Args[i+1]
	}
	if mounted[configPath] != "configmap "+configKey {
		fail("%s: args read %q, where the pod has %q, not the ConfigMap's %s", deploymentFile, configPath, mounted[configPath], configKey)
	}
	if !strings.Contains(files[dockerFile], fmt.Sprintf(`CMD ["serve", "--config", %q]`, configPath)) {
		fail("%s: its CMD does not read %s as the Deployment does", dockerFile, configPath)
	}
	for _, r := range cfg.Routes {
		for file, key := range map[string]string{r.Cert: "secret tls.crt", r.Key: "secret tls.key"} {
			if mounted[file] != key {
				fail("%s: route %s reads %q, where the pod has %q, want the Secret's %s", configMapFile, r.Name, file, mounted[file], key)
			}
		}
	}

	selects := func(sel map[string]string) bool {
		for k, v := range sel {
			if pod.Metadata.Labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !selects(dep.Spec.Selector.MatchLabels) {
		fail("%s: its selector %v does not select its pods %v", deploymentFile, dep.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	if b, err := decodeOne[pdb](pdbFile, files[pdbFile]); err != nil {
		fail("%v", err)
	} else if !selects(b.Spec.Selector.MatchLabels) {
		fail("%s: its selector %v does not select the Deployment's pods %v", pdbFile, b.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	svcs, err := decodeAll[service](serviceFile, files[serviceFile])
	if err != nil {
		fail("%v", err)
	}
	for _, s := range svcs {
		if !selects(s.Spec.Selector) {
			fail("%s: Service %s selects %v, not the Deployment's pods %v", serviceFile, s.Metadata.Name, s.Spec.Selector, pod.Metadata.Labels)
		}
		for _, p := range s.Spec.Ports {
			if !slices.Contains(containerPorts, resolve(p.TargetPort)) {
				fail("%s: Service %s port %s targets %v, which the pod does not have", serviceFile, s.Metadata.Name, p.Name, p.TargetPort)
			}
		}
	}

	servers, checks := haproxyPorts(files[haproxyFile])
	slices.Sort(servers)
	if !slices.Equal(slices.Compact(servers), listenPorts) {
		fail("%s: its servers use ports %v, the configuration listens on %v", haproxyFile, slices.Compact(servers), listenPorts)
	}
	if len(checks) == 0 || slices.ContainsFunc(checks, func(p int) bool { return p != metricsPort }) {
		fail("%s: its health checks ask ports %v, want the metrics port %d", haproxyFile, checks, metricsPort)
	}
	return bad
}

var (
	haproxyServer = regexp.MustCompile(`(?m)^\s*server\s+\S+\s+\S+:(\d+)\b`)
	haproxyCheck  = regexp.MustCompile(`(?m)^\s*(?:default-)?server\b.*\sport\s+(\d+)\b`)
)

// haproxyPorts returns the ports of the server lines of an HAProxy configuration and the
// ports their checks ask (the `port` option of server and default-server lines).
func haproxyPorts(cfg string) (servers, checks []int) {
	for _, m := range haproxyServer.FindAllStringSubmatch(cfg, -1) {
		p, _ := strconv.Atoi(m[1])
		servers = append(servers, p)
	}
	for _, m := range haproxyCheck.FindAllStringSubmatch(cfg, -1) {
		p, _ := strconv.Atoi(m[1])
		checks = append(checks, p)
	}
	return servers, checks
}

// TestDeployAgrees checks that the files of deploy/ agree (agreement), and that each check
// can fail: every mutation below must be reported.
func TestDeployAgrees(t *testing.T) {
	files := deployFiles(t)
	if bad := agreement(files); len(bad) > 0 {
		t.Fatalf("deploy/ disagrees with itself:\n%s", strings.Join(bad, "\n"))
	}
	for _, m := range []struct{ file, old, new string }{
		{deploymentFile, "path: /readyz", "path: /ready"},
		{deploymentFile, "path: /healthz", "path: /readyz"},
		{deploymentFile, "port: metrics", "port: pop3"},
		{deploymentFile, `drop: ["ALL"]`, `drop: ["NET_RAW"]`},
		{deploymentFile, "runAsNonRoot: true", "runAsNonRoot: false"},
		{deploymentFile, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"},
		{deploymentFile, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"},
		{deploymentFile, "containerPort: 1995", "containerPort: 1996"},
		{deploymentFile, "path: popwire.yaml", "path: config.yaml"},
		{deploymentFile, "path: tls/tls.key", "path: tls.key"},
		{deploymentFile, "matchLabels:\n      app.kubernetes.io/name: popwire", "matchLabels:\n      app.kubernetes.io/name: popwire-x"},
		{pdbFile, "app.kubernetes.io/name: popwire", "app.kubernetes.io/name: popwire-x"},
		{serviceFile, "targetPort: pop3s", "targetPort: pop3-tls"},
		{serviceFile, "targetPort: metrics", "targetPort: 9110"},
		{configMapFile, "listen: 0.0.0.0:9100", "listen: 0.0.0.0:9200"},
		{configMapFile, "address: 0.0.0.0:1110", "address: 0.0.0.0:1111"},
		{configMapFile, "file: /dev/stdout", "file: /dev/stderr"},
		{configMapFile, "cert: /etc/popwire/tls/tls.crt", "cert: /etc/popwire/tls.crt"},
		{dockerFile, `"/etc/popwire/popwire.yaml"]`, `"/etc/popwire/config.yaml"]`},
		{haproxyFile, "10.0.0.12:1995", "10.0.0.12:1996"},
		{haproxyFile, "check port 9100", "check port 9110"},
	} {
		mutated := maps.Clone(files)
		mutated[m.file] = strings.Replace(files[m.file], m.old, m.new, 1)
		if mutated[m.file] == files[m.file] {
			t.Errorf("%s: %q is not in the file: the mutation does not apply", m.file, m.old)
			continue
		}
		if bad := agreement(mutated); len(bad) == 0 {
			t.Errorf("%s with %q for %q: no disagreement reported", m.file, m.new, m.old)
		}
	}
}

// staticPopwire is popwire built as the Dockerfile builds it, once for the tests of this
// package, in dir (removed by TestMain).
var staticPopwire struct {
	once sync.Once
	path string
	err  error
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if staticPopwire.dir != "" {
		os.RemoveAll(staticPopwire.dir)
	}
	os.Exit(code)
}

// staticBinary builds popwire as the Dockerfile does (CGO off, -trimpath), once.
func staticBinary(t *testing.T) string {
	t.Helper()
	staticPopwire.once.Do(func() {
		dir, err := os.MkdirTemp("", "popwire-deploy-")
		if err != nil {
			staticPopwire.err = err
			return
		}
		staticPopwire.dir = dir
		bin := filepath.Join(dir, "popwire")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticPopwire.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		staticPopwire.path = bin
	})
	if staticPopwire.err != nil {
		t.Fatal(staticPopwire.err)
	}
	return staticPopwire.path
}

// TestConfigMapChecks runs `popwire config check` on the ConfigMap's configuration file, and
// on a broken copy of it, which must fail.
func TestConfigMapChecks(t *testing.T) {
	bin := staticBinary(t)
	text, err := popwireConfig(deployFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"as shipped", text, true},
		{"misspelt key", strings.Replace(text, "require_tls:", "require_tsl:", 1), false},
	} {
		f := filepath.Join(dir, tc.name+".yaml")
		if err := os.WriteFile(f, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "config", "check", f).CombinedOutput()
		if ok := err == nil && bytes.HasSuffix(out, []byte(": ok\n")); ok != tc.ok {
			t.Errorf("popwire config check, %s: %v\n%s", tc.name, err, out)
		}
	}
}

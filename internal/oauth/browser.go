package oauth

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
)

// OpenBrowser starts the desktop's browser on url, without waiting for it. It fails where
// none can be started: no opener installed, or on Linux and the BSDs no graphical session
// (DISPLAY or WAYLAND_DISPLAY unset, as over SSH or in a container).
func OpenBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("oauth: no graphical session to start a browser in")
		}
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go reap(cmd)
	return nil
}

// reap waits for the opener to exit, so that it leaves no zombie.
func reap(cmd *exec.Cmd) {
	_ = cmd.Wait()
}

package s3test

import "syscall"

// procAttr makes the kernel kill versitygw if the test binary dies without
// running its cleanups (a panic or a -timeout), so no server outlives it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

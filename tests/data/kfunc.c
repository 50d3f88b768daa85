// A syscall program calling kfuncs and reading a ksym and kconfig externs.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern const int bpf_prog_active __ksym;
extern unsigned int CONFIG_HZ __kconfig;
extern int LINUX_KERNEL_VERSION __kconfig;

SEC("syscall")
int run(void *ctx)
{
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	int *active = bpf_this_cpu_ptr(&bpf_prog_active);

	return CONFIG_HZ + LINUX_KERNEL_VERSION + *active;
}

char LICENSE[] SEC("license") = "GPL";

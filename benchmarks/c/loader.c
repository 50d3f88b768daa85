// A minimal libbpf loader: open, load and attach an object, then report the
// time each step took (ms, CLOCK_MONOTONIC) on one line and exit.
//   usage: loader OBJ.o
#include <stdio.h>
#include <time.h>
#include <bpf/libbpf.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	double t0, t1, t2, t3;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJ.o\n", argv[0]);
		return 2;
	}
	libbpf_set_print(NULL);
	t0 = now_ms();
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		return 1;
	t1 = now_ms();
	if (bpf_object__load(obj))
		return 1;
	t2 = now_ms();
	prog = bpf_object__next_program(obj, NULL);
	link = bpf_program__attach(prog);
	if (!link)
		return 1;
	t3 = now_ms();
	printf("open %.3f load %.3f attach %.3f\n", t1 - t0, t2 - t1, t3 - t2);
	fflush(stdout);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

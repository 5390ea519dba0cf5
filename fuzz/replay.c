/* replay: runs LLVMFuzzerTestOneInput over every file of the directories
 * (or the files) given as arguments, without libFuzzer, and reports in TAP.
 * With no argument it replays $top_srcdir/fuzz/corpus/FUZZ_TARGET, so that
 * "make check" runs the seed corpus with any compiler.  An input that
 * breaks a property aborts the program, and the test fails. */
#include "config.h"

#include <dirent.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "define FUZZ_TARGET, the target's corpus name"
#endif

struct list {
	char **v;
	size_t n, cap;
};

static void add(struct list *l, char *path)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (l->v == NULL)
			abort();
	}
	l->v[l->n++] = path;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds path, or the regular files of the directory path. */
static int collect(struct list *l, const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		add(l, strdup(path));
		return 0;
	}
	if ((d = opendir(path)) == NULL) {
		perror(path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", path, de->d_name) < 0)
			abort();
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			add(l, p);
		else
			free(p);
	}
	closedir(d);
	return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? 2 * cap : 65536;
			if ((data = realloc(data, cap)) == NULL)
				abort();
		}
		r = fread(data + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return data;
}

int main(int argc, char **argv)
{
	struct list l = {0};
	int failed = 0, bad_path = 0;

	if (argc < 2) {
		const char *top = getenv("top_srcdir");
		char *dir;

		if (asprintf(&dir, "%s/fuzz/corpus/%s", top && *top ? top : ".", FUZZ_TARGET) < 0)
			abort();
		bad_path |= collect(&l, dir) < 0;
		free(dir);
	}
	for (int i = 1; i < argc; i++)
		bad_path |= collect(&l, argv[i]) < 0;
	qsort(l.v, l.n, sizeof(*l.v), cmp);
	printf("1..%zu\n", l.n + (bad_path ? 1 : 0));
	for (size_t i = 0; i < l.n; i++) {
		size_t len = 0;
		unsigned char *data = slurp(l.v[i], &len);

		fflush(stdout);
		if (data == NULL) {
			printf("not ok %zu - %s: cannot read\n", i + 1, l.v[i]);
			failed = 1;
		} else {
			LLVMFuzzerTestOneInput(data, len);	/* aborts on a failed property */
			printf("ok %zu - %s (%zu bytes)\n", i + 1, l.v[i], len);
		}
		free(data);
		free(l.v[i]);
	}
	if (bad_path)
		printf("not ok %zu - a corpus path could not be read\n", l.n + 1);
	free(l.v);
	return failed | bad_path;
}

// How a controller process is started. A burst (a thousand Kustomizations at once) allocates fast; with V8's
// defaults the young generation alone takes 32 MiB and the old generation may grow to several times what is
// live. These settings keep the peak near the live set (bench/results: peak RSS, CPU) at a few percent of CPU.
// The container image, `mooring local` and the benchmark start the controllers with them.

/** Node/V8 flags: a 2 MiB semi-space and old-generation growth of 40 % over what the last GC kept. */
export const controllerNodeFlags: readonly string[] = ["--max-semi-space-size=2", "--heap-growing-percent=40"];

/**
 * Environment for glibc's malloc: at most two arenas (threads otherwise each keep a few MiB of their own), and
 * fixed thresholds: blocks of 16 KiB and more are mapped on their own and returned when freed, and free memory
 * at the top of an arena beyond 128 KiB is given back. (By default both thresholds rise after the first large
 * free, and memory that a burst used once then stays resident: the peak varied by 15 MiB from run to run.)
 */
export const controllerEnv: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "16384", MALLOC_TRIM_THRESHOLD_: "131072" };

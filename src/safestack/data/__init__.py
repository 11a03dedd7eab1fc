from .loaders import DATASETS, bench_name, load_bench, load_specs, load_harmbench, load_harmbench_extra, load_xstest, load_xstest_completions

__all__ = ["DATASETS", "bench_name", "load_bench", "load_specs", "load_harmbench", "load_harmbench_extra", "load_xstest", "load_xstest_completions"]

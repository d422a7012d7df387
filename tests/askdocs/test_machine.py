import pytest

from askdocs.machine import cpu_line, cpu_model, instruction_set

pytestmark = pytest.mark.unit

AVX2_EPYC = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n"
VNNI_XEON = "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: avx avx2 avx512f avx512_vnni\n"


def test_the_widest_instruction_set_is_named():
    assert instruction_set(AVX2_EPYC) == "AVX2"
    assert instruction_set(VNNI_XEON) == "AVX-512 VNNI"
    assert instruction_set("flags\t: sse2\n") == "baseline"
    assert cpu_model(AVX2_EPYC) == "AMD EPYC 7B13"


def test_this_machine_line_names_cpu_instruction_set_and_cores():
    line = cpu_line()
    assert line.count(", ") >= 2 and line.endswith("cores")

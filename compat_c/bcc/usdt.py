"""``bcc.usdt``: the USDT context and its probe objects."""

from pybpf_dsl.runtime.usdt import UsdtArg as USDTProbeArgument
from pybpf_dsl.runtime.usdt import UsdtLocation as USDTProbeLocation
from pybpf_dsl.runtime.usdt import UsdtProbe as USDTProbe

from ..usdt import USDT, USDTException

__all__ = ["USDT", "USDTException", "USDTProbe", "USDTProbeLocation", "USDTProbeArgument"]

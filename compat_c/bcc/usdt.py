"""``bcc.usdt``: the USDT context and bcc's probe objects (``USDTProbe``, its locations and arguments)."""

from ..usdt import USDT, USDTException, USDTProbe, USDTProbeArgument, USDTProbeLocation

__all__ = ["USDT", "USDTException", "USDTProbe", "USDTProbeLocation", "USDTProbeArgument"]

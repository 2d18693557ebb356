"""Paperwork derived from a case's state: the national portal's status code and the
process-control sheet (phiếu kiểm soát quá trình giải quyết hồ sơ)."""

from motcua.paperwork.control_sheet import ControlSheet, SheetRow, build_control_sheet
from motcua.paperwork.portal import PORTAL_STATUS_VI, portal_status

__all__ = ["PORTAL_STATUS_VI", "ControlSheet", "SheetRow", "build_control_sheet", "portal_status"]

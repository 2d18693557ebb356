"""Paperwork derived from a case's state: the national portal's status code and the
process-control sheet (phiếu kiểm soát quá trình giải quyết hồ sơ) of a case or of an
integrated bundle (from its members' hand-offs)."""

from motcua.paperwork.bundle_sheet import (
    BundleControlSheet,
    BundleSheetRow,
    build_bundle_control_sheet,
)
from motcua.paperwork.control_sheet import ControlSheet, SheetRow, build_control_sheet
from motcua.paperwork.portal import PORTAL_STATUS_VI, portal_status

__all__ = [
    "PORTAL_STATUS_VI",
    "BundleControlSheet",
    "BundleSheetRow",
    "ControlSheet",
    "SheetRow",
    "build_bundle_control_sheet",
    "build_control_sheet",
    "portal_status",
]

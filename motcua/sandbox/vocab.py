"""Vocabulary of the synthetic population: names, ethnicities, streets, phone prefixes.

Family-name weights follow the commonly cited shares (Nguyễn about 38 %, Trần 11 %, Lê 9.5 %,
Phạm 7 %, Hoàng/Huỳnh 5 %, Phan 4.5 %, Vũ/Võ 3.9 %, …). Hoàng and Vũ are the northern
spellings, Huỳnh and Võ the southern ones (same names, split by region here).
"""

from __future__ import annotations

import unicodedata


def _nfc(words: str) -> tuple[str, ...]:
    return tuple(unicodedata.normalize("NFC", w) for w in words.split())


def _weighted(pairs: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    names, weights = [], []
    for item in pairs.split(","):
        name, weight = item.rsplit(":", 1)
        names.append(unicodedata.normalize("NFC", name.strip()))
        weights.append(float(weight))
    return tuple(names), tuple(weights)


# "Hoàng" and "Vũ" are replaced by "Huỳnh" and "Võ" in the south (see data.py).
FAMILY_NAMES, FAMILY_WEIGHTS = _weighted(
    "Nguyễn:38, Trần:11, Lê:9.5, Phạm:7.1, Hoàng:5.1, Phan:4.5, Vũ:3.9, Đặng:2.1, Bùi:2,"
    "Đỗ:1.4, Hồ:1.3, Ngô:1.3, Dương:1, Lý:0.5, Đào:0.4, Đoàn:0.4, Đinh:0.4, Trương:0.4,"
    "Lâm:0.3, Mai:0.3, Trịnh:0.3, Cao:0.3, Lương:0.3, Hà:0.3, Tạ:0.2, Tô:0.2, Châu:0.2,"
    "Thái:0.2, Vương:0.1, Kiều:0.1, Quách:0.1, La:0.1, Lưu:0.2, Tăng:0.1, Triệu:0.1"
)
SOUTHERN = {"Hoàng": "Huỳnh", "Vũ": "Võ"}

MALE_MIDDLE_OLD = _nfc("Văn Văn Văn Văn Đức Hữu Công Quang Minh Xuân Đình Ngọc Thanh Trọng")
MALE_MIDDLE_YOUNG = _nfc("Văn Văn Minh Minh Đức Quốc Gia Gia Hoàng Anh Bảo Tuấn Thành Hữu Nhật")
FEMALE_MIDDLE_OLD = _nfc("Thị Thị Thị Thị Thị Thị Ngọc Thu Thanh Kim Hồng Minh")
FEMALE_MIDDLE_YOUNG = _nfc("Thị Thị Ngọc Thu Thanh Minh Phương Khánh Bảo Thùy Diệu Mỹ Quỳnh Hà")

MALE_GIVEN = _nfc(
    "An Anh Bảo Bình Cường Chiến Dũng Duy Dương Đạt Đức Hải Hào Hiếu Hoàng Hùng Huy Khang "
    "Khánh Khoa Kiên Lâm Long Luân Lực Minh Nam Nghĩa Nhân Phong Phúc Quân Quang Quý Sơn Tài "
    "Thắng Thành Thịnh Thông Tiến Toàn Trí Trung Tuấn Tùng Việt Vinh Vũ Hưng Hậu Khôi Đăng"
)
FEMALE_GIVEN = _nfc(
    "An Anh Chi Dung Giang Hà Hằng Hạnh Hiền Hoa Hồng Hương Huyền Lan Linh Loan Ly Mai My "
    "Nga Ngân Ngọc Nhung Nhi Oanh Phương Quỳnh Tâm Thảo Thu Thủy Trang Trâm Uyên Vân Vy "
    "Xuân Yến Hạnh Diệp Thư Tuyết Lụa Liên Duyên Ánh Châu"
)

ETHNICITY_DEFAULT = _weighted("Kinh:95, Hoa:1.5, Tày:0.5, Mường:0.8, Nùng:0.3, Thái:0.4")
ETHNICITY_BY_PROVINCE: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    # northern mountain provinces
    **{
        code: _weighted("Kinh:40, Tày:15, Thái:12, Mông:12, Nùng:8, Dao:7, Mường:4, Giáy:2")
        for code in ("04", "08", "11", "12", "14", "15", "19", "20")
    },
    "25": _weighted("Kinh:80, Mường:15, Dao:2, Tày:3"),
    # Central Highlands
    **{
        code: _weighted("Kinh:70, Ê Đê:10, Gia Rai:10, Ba Na:5, Cơ Ho:5")
        for code in ("52", "66", "68")
    },
    # Mekong delta with Khmer communities
    **{code: _weighted("Kinh:85, Khmer:13, Hoa:2") for code in ("91", "92", "86", "96")},
    "79": _weighted("Kinh:92, Hoa:6, Khmer:1, Chăm:1"),
}

STREETS = _nfc(
    "Lê_Lợi Trần_Hưng_Đạo Nguyễn_Huệ Hai_Bà_Trưng Lý_Thường_Kiệt Quang_Trung Nguyễn_Trãi "
    "Lê_Duẩn Hùng_Vương Điện_Biên_Phủ Phan_Chu_Trinh Nguyễn_Du Hoàng_Văn_Thụ Trần_Phú "
    "Nguyễn_Thị_Minh_Khai Võ_Thị_Sáu Cách_Mạng_Tháng_Tám Nguyễn_Văn_Cừ Lạc_Long_Quân Âu_Cơ "
    "Phạm_Văn_Đồng Lê_Thánh_Tông Bà_Triệu Nguyễn_Chí_Thanh Tôn_Đức_Thắng Lý_Tự_Trọng"
)
STREETS = tuple(s.replace("_", " ") for s in STREETS)
HAMLET_NAMES = _nfc("Đông Tây Nam Bắc Trung Thượng Hạ Phú_Lợi Tân_Mỹ An_Hòa Bình_Minh Hòa_Bình")
HAMLET_NAMES = tuple(s.replace("_", " ") for s in HAMLET_NAMES)

# Mobile prefixes in use since the 2018 renumbering (Viettel, VinaPhone, MobiFone,
# Vietnamobile, Gmobile).
MOBILE_PREFIXES = (
    "086 096 097 098 032 033 034 035 036 037 038 039 "
    "088 091 094 081 082 083 084 085 "
    "089 090 093 070 076 077 078 079 "
    "092 056 058 099 059"
).split()

EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "icloud.com")

ROLE_HEAD = "Chủ hộ"

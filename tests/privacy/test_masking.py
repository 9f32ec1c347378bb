from __future__ import annotations

import pytest

from privacy.masking import district_of, mask_address, mask_name, mask_phone


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("李小龙", "李**"),
        ("欧阳娜娜", "欧阳**"),
        ("司马懿", "司马*"),
        ("诸葛孔明", "诸葛**"),
        ("张", "*"),
        ("欧阳", "欧*"),  # a compound surname alone: the name is too short to keep it whole
        ("Alice Smith", "A**** S****"),
        ("Alice  Smith ", "A**** S****"),
        ("A", "A"),
        ("Zoë O'Brien", "Z** O******"),
        ("", ""),
        ("   ", ""),
        ("李👍", "李*"),
        ("👩‍👩‍👧 Smith", "👩‍👩‍👧 S****"),
        ("张" * 200, "张********"),
        ("B" * 200, "B********"),
        ("买买提·艾力", "买*****"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("0086 13812345678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("(138) 1234 5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("021-12345678", "021****5678"),
        ("+44 7700 900123", "+447*****0123"),
        ("1234567", "12***67"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("上海市浦东新区张江路123号4栋502室", "上海市浦东新区张江路****"),
        ("北京市朝阳区建国门外大街1号国贸大厦A座1001", "北京市朝阳区建国门外大街****"),
        ("广州市天河区珠江新城华夏路8号", "广州市天河区珠江新城华夏路****"),
        ("杭州市西湖区文三路", "杭州市西湖区****"),
        ("深圳市南山区科技园", "深圳市南山区****"),
        ("南京市鼓楼区中山北路100号", "南京市鼓楼区中山北路****"),
        ("上海市黄浦区南京东路步行街", "上海市黄浦区南京东路****"),
        ("阳光花园3栋", "阳光花园****"),
        ("221B Baker Street, London", "****, London"),
        ("Flat 3, 12 High St, Oxford", "****, Oxford"),
        ("Rose Cottage, Church Lane, Little Snoring, Norfolk", "****, Norfolk"),
        ("Rose Cottage", "****"),
        ("88号院3号楼朝阳区", "88****"),
        ("Apt B, 12 Main Street", "****"),
        ("", ""),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_address_mask_of_a_very_long_address_is_bounded() -> None:
    assert mask_address("上海市浦东新区张江路" + "1" * 5000) == "上海市浦东新区张江路****"


@pytest.mark.parametrize(
    ("function", "value", "limit"),
    [
        (mask_name, " ".join(["Bartholomew"] * 12), 40),
        (mask_name, "Z" + "\u0301" * 500 + "algo", 40),
        (mask_address, "Some Very Long Town Name " * 20 + ", " + "Region " * 30, 120),
        (mask_address, "上海市浦东新区" + "长" * 300 + "路1号", 120),
        (district_of, "x, " + "Region " * 30, 60),
    ],
)
def test_masks_fit_their_columns(function, value: str, limit: int) -> None:
    assert len(function(value)) <= limit


@pytest.mark.parametrize(
    ("address", "district"),
    [
        ("上海市浦东新区张江路123号", "上海市浦东新区"),
        ("221B Baker Street, London", "London"),
        ("12 Baker Street, Flat B", "Flat B"),
        ("88号院3号楼朝阳区", "****"),
        ("Rose Cottage", "****"),
    ],
)
def test_district_of(address: str, district: str) -> None:
    assert district_of(address) == district

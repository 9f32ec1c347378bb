"""Starter training for the demo and every new tenant, written from the policy's clauses
(../shared/policy-zh.md): a course for all staff (the induction course), one for riders
(§4.1.2), one for kitchen and packing (§3.2–3.3), and the staff confidentiality pledge
(§7.1.2). A tenant administrator publishes new versions to change them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenants.actors import Actor, SystemActor
from tenants.models import Role, Tenant, User
from tenants.roles import roles_of
from tenants.scoping import tenant_scope
from training.clearance import required_courses, status_of
from training.courses import (
    correct_answers,
    create_course,
    current_course_version,
    publish_course_version,
    start_attempt,
    submit_attempt,
)
from training.lesson_images import upload_lesson_image
from training.models import Course
from training.pledges import current_pledge, pledge_to_sign, publish_pledge, sign_pledge

STAFF_ROLES = [r.value for r in Role if r != Role.RIDER]


def _lesson(
    title_zh: str, title_en: str, body_zh: str, body_en: str, *, images: tuple[str, ...] = ()
) -> dict[str, Any]:
    # ``images`` names STARTER_IMAGES; seeding puts the tenant's image ids in their place.
    return {
        "title_zh": title_zh,
        "title_en": title_en,
        "body_zh": body_zh,
        "body_en": body_en,
        "images": list(images),
    }


# The starter lessons' pictures: PNGs shipped in training/starter_images/ (drawn by
# scripts/make_starter_images.py; every name and number on them is made up), seeded as the
# tenant's lesson images through the same service as an upload, so a tenant administrator
# reuses or replaces them like any other.
STARTER_IMAGE_DIR = Path(__file__).resolve().parent / "starter_images"
STARTER_IMAGES: dict[str, dict[str, str]] = {
    "packing-label": {
        "file": "packing-label.png",
        "alt_zh": "正确的标签只显示订单号、二维码、遮盖后的收件人、区域和封条号；"
        "错误的标签写出了姓名、电话和地址。",
        "alt_en": "A correct label shows only the order code, the QR code, the masked "
        "recipient, the district and the seal number; a wrong one shows the name, phone "
        "and address.",
    },
    "bag-seal": {
        "file": "bag-seal.png",
        "alt_zh": "完好的封条号与标签一致，可以配送；破损的封条：不要配送，立即报告。",
        "alt_en": "An intact seal whose number matches the label can go; a broken seal: do "
        "not deliver it, report it at once.",
    },
}


def _seed_images(tenant: Tenant, actor: Actor, names: set[str]) -> dict[str, int]:
    ids = {}
    for name in sorted(names):
        spec = STARTER_IMAGES[name]
        image = upload_lesson_image(
            tenant=tenant,
            actor=actor,
            data=(STARTER_IMAGE_DIR / spec["file"]).read_bytes(),
            name=spec["file"],
            alt_zh=spec["alt_zh"],
            alt_en=spec["alt_en"],
        )
        ids[name] = image.pk
    return ids


def _with_image_ids(lessons: list[dict[str, Any]], ids: dict[str, int]) -> list[dict[str, Any]]:
    return [{**lesson, "images": [ids[name] for name in lesson["images"]]} for lesson in lessons]


def _q(
    qid: str,
    text_zh: str,
    text_en: str,
    options: list[tuple[str, str, bool]],
    *,
    multiple: bool = False,
) -> dict[str, Any]:
    return {
        "id": qid,
        "multiple": multiple,
        "text_zh": text_zh,
        "text_en": text_en,
        "options": [
            {"id": f"{qid}{chr(97 + i)}", "text_zh": zh, "text_en": en, "correct": ok}
            for i, (zh, en, ok) in enumerate(options)
        ],
    }


ALL_STAFF: dict[str, Any] = {
    "code": "confidentiality-basics",
    "roles": STAFF_ROLES,
    "induction": True,
    "renew_months": 12,
    "title_zh": "外卖保密送达制度：全体员工入职培训",
    "title_en": "Confidential delivery rules: induction for all staff",
    "lessons": [
        _lesson(
            "为什么要保密",
            "Why confidentiality matters",
            "本制度适用于公司全体员工，包括骑手、客服、管理人员及参与配送的所有人员（§1.2）。"
            "客户的姓名、电话和地址只为完成配送而收集和使用；谁需要看，才给谁看，且只在需要的时候看。"
            "系统中每一次查看完整信息都会被记录。",
            "These rules apply to every employee: riders, customer service, managers and everyone "
            "involved in delivery (§1.2). Customers' names, phones and addresses are collected and "
            "used only to deliver; only those who need them see them, and only when they need them. "
            "Every view of full details is recorded.",
        ),
        _lesson(
            "订单接收与处理",
            "Taking and handling orders",
            "接单时确保屏幕不被他人窥视（§3.1.1）；只有经授权的人员才能访问订单信息（§3.1.2）。"
            "不在公开场合讨论订单内容（§3.2.1）。标签只显示订单号、二维码、遮盖后的收件人、区域和封条号，"
            "绝不显示完整姓名、电话或地址（§3.3.1）。",
            "When taking orders, keep your screen out of others' sight (§3.1.1); only authorised "
            "people access order details (§3.1.2). Do not discuss orders in public (§3.2.1). The "
            "label shows only the order code, the QR code, the masked recipient, the district and "
            "the seal number — never the full name, phone or address (§3.3.1).",
            images=("packing-label",),
        ),
        _lesson(
            "发现泄露怎么办",
            "When something leaks",
            "一旦发现客户信息泄露，立即报告隐私专员（在系统中提交事件报告），第一时间防止扩散（§5.1.1）。"
            "不要自行联系客户或在群里讨论；调查、通知客户由事件案件流程负责（§5.1.2–5.1.3）。"
            "违反制度将按情节给予警告、罚款或辞退，违法的移交司法机关（§6.3）。",
            "If you find customers' data has leaked, report it at once to the privacy officer "
            "(file an incident report in the system) to stop it spreading (§5.1.1). Do not contact "
            "the customer yourself or discuss it in group chats; the incident case handles the "
            "investigation and notifying customers (§5.1.2–5.1.3). Breaches lead to a warning, a "
            "fine or dismissal, and crimes are reported to the authorities (§6.3).",
        ),
    ],
    "questions": [
        _q(
            "s1",
            "打包标签上可以显示什么？",
            "What may the package label show?",
            [
                ("订单号和二维码", "The order code and QR code", True),
                ("封条号", "The seal number", True),
                ("客户的完整姓名", "The customer's full name", False),
                ("客户的电话号码", "The customer's phone number", False),
            ],
            multiple=True,
        ),
        _q(
            "s2",
            "发现客户信息泄露，首先应该怎么做？",
            "You find that customers' data has leaked. What do you do first?",
            [
                (
                    "立即报告隐私专员（提交事件报告）",
                    "Report it at once to the privacy officer (file an incident report)",
                    True,
                ),
                ("自己打电话向客户道歉", "Call the customer yourself to apologise", False),
                ("在工作群里提醒大家", "Warn everyone in the team chat", False),
                ("等下班后再说", "Wait until the end of the shift", False),
            ],
        ),
        _q(
            "s3",
            "谁可以查看订单的完整信息？",
            "Who may see an order's full details?",
            [
                (
                    "为完成本项工作需要查看、且经授权的人员",
                    "Authorised people who need them for the task at hand",
                    True,
                ),
                ("任何员工", "Any employee", False),
                ("任何提出要求的人", "Anyone who asks", False),
            ],
        ),
        _q(
            "s4",
            "以下哪些做法违反制度？",
            "Which of these break the rules?",
            [
                ("在社交媒体上谈论某个订单", "Talking about an order on social media", True),
                (
                    "在餐厅大声念出客户地址",
                    "Reading a customer's address aloud in the restaurant",
                    True,
                ),
                ("用订单号沟通订单", "Referring to an order by its code", False),
            ],
            multiple=True,
        ),
        _q(
            "s5",
            "入职培训通过后还需要做什么？",
            "What comes after passing the induction course?",
            [
                ("签署保密承诺书", "Signing the confidentiality pledge", True),
                ("什么都不用做", "Nothing", False),
                ("把培训材料转发给朋友", "Forwarding the course to friends", False),
            ],
        ),
    ],
}

RIDERS: dict[str, Any] = {
    "code": "rider-confidentiality",
    "roles": [Role.RIDER.value],
    "induction": False,
    "renew_months": 6,
    "title_zh": "骑手保密配送培训",
    "title_en": "Confidential delivery for riders",
    "lessons": [
        _lesson(
            "取餐",
            "At pickup",
            "取餐时核对订单号和封条号，两者都必须一致（§4.2）。封条号不一致：不要取走包裹，联系客服。"
            "取到餐品后立即放入安全位置，不在取餐现场久留（§4.2.2）。",
            "At pickup, check the order code and the seal number: both must match (§4.2). If the "
            "seal number does not match, do not take the package; call customer service. Put the "
            "package somewhere safe at once and do not linger at the pickup point (§4.2.2).",
            images=("bag-seal",),
        ),
        _lesson(
            "配送途中",
            "On the way",
            "确认取餐后，系统才向你显示完整地址和配送备注，每次查看都有记录。餐品放在安全、隐蔽的位置（§4.3.1）；"
            "不向任何人透露客户信息，不在社交媒体或公共场所谈论订单（§4.3.2）。需要暂存时，选择可靠地点并在系统中登记（§4.3.3）。",
            "The full address and the delivery note are shown only after you confirm the pickup, "
            "and each view is recorded. Keep the package safe and out of sight (§4.3.1); never tell "
            "anyone about the customer, nor talk about orders on social media or in public (§4.3.2). "
            "If you must hold the package, choose a safe place and record it in the app (§4.3.3).",
        ),
        _lesson(
            "送达",
            "At the door",
            "送达时确认客户身份：核对取餐码，或由客服核验后交付（§4.4.1）。不与周围人员谈论订单，完成后迅速离开（§4.4.2）。"
            "发现信息泄露或包裹异常，立即在系统中报告问题，由客服和隐私专员处理。",
            "At the door, confirm the customer's identity: check the delivery PIN, or hand over "
            "after customer service has verified the customer (§4.4.1). Do not discuss the order "
            "with people around and leave promptly (§4.4.2). If data leaks or a package is wrong, "
            "report the problem in the app at once; customer service and the privacy officer take over.",
        ),
    ],
    "questions": [
        _q(
            "r1",
            "取餐时封条号与系统不一致，你应该：",
            "At pickup the seal number does not match the app. You:",
            [
                ("不取走包裹，联系客服", "Do not take the package; call customer service", True),
                ("先取走，路上再说", "Take it anyway and sort it out later", False),
                ("自己换一个封条", "Put on a new seal yourself", False),
            ],
        ),
        _q(
            "r2",
            "什么时候能看到客户的完整地址？",
            "When can you see the customer's full address?",
            [
                (
                    "确认取餐（订单号和封条号核对一致）之后",
                    "After confirming the pickup (order code and seal match)",
                    True,
                ),
                ("接单时", "As soon as the order is assigned", False),
                ("任何时候", "At any time", False),
            ],
        ),
        _q(
            "r3",
            "以下哪些方式可以交付包裹？",
            "How may you hand the package over?",
            [
                ("客户说出正确的取餐码", "The customer gives the right delivery PIN", True),
                ("客服核验客户身份后", "After customer service has verified the customer", True),
                (
                    "交给门口任何自称认识客户的人",
                    "To anyone at the door who says they know the customer",
                    False,
                ),
            ],
            multiple=True,
        ),
        _q(
            "r4",
            "发现客户信息可能泄露（例如手机丢失），应告诉谁？",
            "You think customers' data has leaked (say, your phone was lost). Whom do you tell?",
            [
                (
                    "立即在系统中报告，由客服和隐私专员处理",
                    "Report it in the app at once; customer service and the privacy officer handle it",
                    True,
                ),
                ("谁也不说", "No one", False),
                ("只告诉其他骑手", "Only other riders", False),
            ],
        ),
        _q(
            "r5",
            "以下哪些行为是禁止的？",
            "Which of these are forbidden?",
            [
                ("给包裹或标签拍照", "Photographing the package or label", True),
                ("在包裹上写客户姓名", "Writing the customer's name on the package", True),
                (
                    "把暂存地点登记在系统中",
                    "Recording where you held the package in the app",
                    False,
                ),
            ],
            multiple=True,
        ),
    ],
}

KITCHEN_PACKING: dict[str, Any] = {
    "code": "kitchen-packing",
    "roles": [Role.KITCHEN.value, Role.PACKER.value],
    "induction": False,
    "renew_months": 12,
    "title_zh": "厨房与打包保密培训",
    "title_en": "Confidentiality in the kitchen and at packing",
    "lessons": [
        _lesson(
            "厨房",
            "In the kitchen",
            "厨房屏幕只显示订单号、菜品和备注，不显示客户是谁、送到哪里。不在公开场合讨论订单内容（§3.2.1）；"
            "订单餐品与其他无关物品分开存放，避免混淆（§3.2.2）。",
            "The kitchen screen shows only the order code, items and notes — never who ordered or "
            "where it goes. Do not discuss orders in public (§3.2.1); keep each order's food apart "
            "from unrelated items so nothing is mixed up (§3.2.2).",
        ),
        _lesson(
            "打包与封条",
            "Packing and the seal",
            "标签只显示订单号、二维码、遮盖后的收件人、区域和封条号；绝不手写客户姓名、电话或地址（§3.3.1）。"
            "每个包裹用系统登记的封条封好（§3.3.2）。封条损坏或号码不对：不要交给骑手，重新封装并在系统中登记新封条号，必要时报告问题。",
            "The label shows only the order code, QR code, masked recipient, district and seal "
            "number; never write the customer's name, phone or address by hand (§3.3.1). Close each "
            "package with the seal recorded in the app (§3.3.2). If a seal is broken or its number "
            "is wrong, do not hand the package over: repack it, record the new seal number and "
            "report the problem if needed.",
            images=("packing-label", "bag-seal"),
        ),
    ],
    "questions": [
        _q(
            "k1",
            "打包标签上可以写客户的完整姓名吗？",
            "May you write the customer's full name on the package?",
            [
                ("不可以，只显示遮盖后的收件人", "No: only the masked recipient is shown", True),
                ("可以，方便骑手", "Yes, it helps the rider", False),
            ],
        ),
        _q(
            "k2",
            "封条损坏或封条号不对，你应该：",
            "The seal is broken or its number is wrong. You:",
            [
                (
                    "不交出包裹，重新封装并登记新封条号",
                    "Keep the package, repack it and record the new seal number",
                    True,
                ),
                ("直接交给骑手", "Hand it to the rider anyway", False),
                ("用胶带补一下就行", "Patch it with tape", False),
            ],
        ),
        _q(
            "k3",
            "厨房屏幕上会显示哪些信息？",
            "What does the kitchen screen show?",
            [
                ("订单号", "The order code", True),
                ("菜品和备注", "The items and notes", True),
                ("客户地址", "The customer's address", False),
                ("客户电话", "The customer's phone", False),
            ],
            multiple=True,
        ),
        _q(
            "k4",
            "有人在厨房问某个订单是谁点的，你应该：",
            "Someone in the kitchen asks who placed an order. You:",
            [
                ("不回答，只用订单号沟通", "Don't say; refer to orders by their code only", True),
                ("告诉他", "Tell them", False),
            ],
        ),
        _q(
            "k5",
            "发现客户信息泄露，应告诉谁？",
            "You find customers' data has leaked. Whom do you tell?",
            [
                ("隐私专员（提交事件报告）", "The privacy officer (file an incident report)", True),
                ("只告诉同事", "Only your colleagues", False),
                ("不用告诉任何人", "No one", False),
            ],
        ),
    ],
}

STARTER_COURSES: list[dict[str, Any]] = [ALL_STAFF, RIDERS, KITCHEN_PACKING]

PLEDGE_ZH = (
    "本人已接受外卖保密送达制度培训，承诺：仅为完成本职工作查看和使用客户信息；不复制、不拍照、"
    "不向任何人透露客户信息，不在公开场合或社交媒体谈论订单；标签和包裹上不显示客户姓名、电话或地址；"
    "发现信息泄露或异常立即报告隐私专员。违反本承诺将按公司制度给予警告、罚款或辞退，"
    "涉及违法犯罪的依法移交司法机关。"
)
PLEDGE_EN = (
    "I have been trained on the confidential delivery rules and promise: to see and use "
    "customers' information only for my own work; not to copy, photograph or pass it on to "
    "anyone, nor talk about orders in public or on social media; never to show customers' "
    "names, phones or addresses on labels or packages; to report any leak or anomaly to the "
    "privacy officer at once. Breaches lead to a warning, a fine or dismissal under company "
    "rules, and crimes are reported to the authorities."
)


def seed_training(tenant: Tenant, actor: Actor) -> str | None:
    """The starter courses (v1) and pledge (v1) that ``tenant`` does not have yet:
    idempotent."""
    made = []
    for spec in STARTER_COURSES:
        with tenant_scope(tenant):
            exists = Course.objects.filter(code=spec["code"]).exists()
        if exists:
            continue
        course = create_course(
            tenant=tenant,
            actor=actor,
            code=spec["code"],
            roles=spec["roles"],
            induction=spec["induction"],
            renew_months=spec["renew_months"],
        )
        publish_course_version(
            course=course,
            actor=actor,
            title_zh=spec["title_zh"],
            title_en=spec["title_en"],
            content={
                "lessons": _with_image_ids(
                    spec["lessons"],
                    _seed_images(tenant, actor, {n for x in spec["lessons"] for n in x["images"]}),
                ),
                "questions": spec["questions"],
            },
            pass_mark=80,
        )
        made.append(spec["code"])
    if current_pledge(tenant) is None:
        publish_pledge(tenant=tenant, actor=actor, text_zh=PLEDGE_ZH, text_en=PLEDGE_EN)
        made.append("pledge v1")
    return f"training: {', '.join(made)}" if made else None


def seed_new_tenant(sender: Any, *, action: str, tenant: Tenant, **_: Any) -> None:
    if action == "tenant.created":
        seed_training(tenant, SystemActor("training-starter"))


def seed_demo_training(tenant: Tenant, actor: Actor) -> str | None:
    """The demo: the starter courses and pledge, then every demo user passes the courses
    of their roles and (staff) signs the pledge, through the real services (an attempt
    answered correctly, a signature with no IP) — so the demo's reveals and dispatch work
    out of the box under the training gates (training.gates). Idempotent: only what a user
    has not done yet."""
    made = seed_training(tenant, actor)
    passed = 0
    users = list(User.objects.filter(tenant=tenant, is_active=True).order_by("pk"))
    with tenant_scope(tenant):
        all_courses = list(Course.objects.order_by("code"))
    for user in users:
        for course in required_courses(user, all_courses):
            if status_of([user], course)[user.pk].cleared:
                continue
            version = current_course_version(course)
            if version is None:
                continue
            answers = correct_answers(version)
            attempt = start_attempt(user=user, version=version)
            submit_attempt(user=user, attempt_id=attempt.pk, answers=answers)
            passed += 1
        if Role.RIDER not in roles_of(user):
            pledge = pledge_to_sign(user)
            if pledge is not None:
                sign_pledge(user=user, version=pledge.version, language="zh-hans", ip=None)
    if passed:
        made = f"{made + '; ' if made else 'training: '}{passed} demo passes"
    return made

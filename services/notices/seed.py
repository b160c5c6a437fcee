"""Sample notices for a new installation, so the first login shows a real
message list. `deploy/bootstrap.py` calls `seed(engine)`; each notice carries
a fixed idempotency key, so seeding again publishes nothing more (and a sample
an admin has withdrawn stays withdrawn)."""
from sqlalchemy.orm import Session

from services.notices import notices
from services.notices.models import Base
from services.notices.store import NoticesStore, utcnow

SAMPLES = (
    {
        "key": "seed:2027-enrolment-period",
        "pinned": True,
        "title": "关于做好2027年度城乡居民医保集中参保缴费工作的通知",
        "body": (
            "各社区单位：\n\n"
            "2027年度城乡居民基本医疗保险集中参保缴费工作已经开始，现将有关事项通知如下。\n\n"
            "### 一、集中参保缴费期\n\n"
            "2026年9月1日至2026年12月31日。在集中参保缴费期内参保缴费的居民，"
            "自2027年1月1日起享受城乡居民医保待遇。\n\n"
            "### 二、参保对象\n\n"
            "未参加职工基本医疗保险的本地户籍居民和持有本地居住证的常住人员，"
            "包括在校大中专学生、中小学生和新生儿。\n\n"
            "### 三、申报要求\n\n"
            "1. 新参保、转入参保和恢复参保，请通过“城乡居民参保”办理；\n"
            "2. 已参保人员的个人信息有变化的，请通过“城乡居民变更”更正；\n"
            "3. 人员较多的单位，可使用“批量导入”一次申报。\n\n"
            "### 四、温馨提示\n\n"
            "申报前请先查询人员的参保状态，避免重复参保。"
            "个人缴费标准以医疗保障部门公布的为准。\n\n"
            "泉州居民E点通平台"
        ),
    },
    {
        "key": "seed:batch-import-guide",
        "pinned": False,
        "title": "批量导入功能使用说明",
        "body": (
            "为方便人员较多的单位集中申报，平台提供**批量导入**功能，操作步骤如下：\n\n"
            "1. 进入“批量导入”页面，选择业务类型（城乡居民参保或城乡居民暂停参保），"
            "下载对应的Excel模板；\n"
            "2. 按模板填写人员信息，请勿修改表头、删除列或合并单元格，证件号码请设置为文本格式；\n"
            "3. 填写完成后上传文件，单个文件不超过10MB、20000行；\n"
            "4. 导入完成后可查看成功和失败条数。失败的人员可下载失败清单，"
            "按“失败原因”一列修改后再次导入。\n\n"
            "注意：同一人员在同一个文件中只能出现一次。"
        ),
    },
)


def seed(engine):
    """Publish the samples that are not there yet; returns how many it published."""
    Base.metadata.create_all(engine)
    published = 0
    with Session(engine, expire_on_commit=False) as session:
        store = NoticesStore(session)
        for sample in SAMPLES:
            with store.reading():
                if store.notice_by_key(notices.SYSTEM, sample["key"]) is not None:
                    continue
            notices.publish(store, sample["title"], sample["body"], sample["pinned"], utcnow(),
                            notices.SYSTEM, sample["key"])
            published += 1
    return published

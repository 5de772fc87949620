# ruff: noqa: E501 - word lists and templates read best one per line
"""A labelled retrieval set, generated: team handbooks in English and Chinese, and questions on them.

Every team (``Amber Falcon``, ``琥珀猎鹰``) has one handbook file with the same twelve kinds of fact,
so every fact has near-duplicate distractors: the same sentence about the other teams (those that
share a word of the name are the hardest), and a second clause in the same paragraph that a
careless match would take. Questions are asked two ways, one close to the handbook's words and
one paraphrased, so neither keyword nor vector search has it easy. A question's answer is the
chunk that contains its ``key`` (the fact's first clause, unique in the whole corpus).

Also generated: follow-up questions (``history`` + a question that only makes sense with it, and
the standalone question it means) and questions whose answer needs two knowledge bases (the
people facts and the tech facts of a team live in two KBs).

Everything comes from the word lists below and one seeded random generator: the same seed gives
the same corpus and questions on every machine, with nothing downloaded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

EN_FIRST = [
    "Amber", "Cobalt", "Crimson", "Silver", "Jade", "Ivory", "Onyx", "Scarlet", "Golden", "Indigo",
    "Copper", "Violet", "Emerald", "Azure", "Ruby", "Coral", "Bronze", "Pearl", "Maple", "Granite",
]  # fmt: skip
EN_SECOND = [
    "Falcon", "Heron", "Otter", "Lynx", "Badger", "Raven", "Marten", "Bison",
    "Osprey", "Gecko", "Walrus", "Puffin", "Beaver", "Condor",
]  # fmt: skip
ZH_FIRST = [
    "琥珀", "钴蓝", "赤红", "银白", "翡翠", "象牙", "玄黑", "绯红", "金色", "靛青",
    "紫铜", "紫罗兰", "碧绿", "天蓝", "红宝石", "珊瑚", "青铜", "珍珠", "枫叶", "花岗岩",
]  # fmt: skip
ZH_SECOND = [
    "猎鹰", "苍鹭", "水獭", "山猫", "獾", "渡鸦", "貂", "野牛",
    "鱼鹰", "壁虎", "海象", "海鹦", "河狸", "秃鹫",
]  # fmt: skip

EN_PEOPLE = ["Alice Chen", "Bob Novak", "Carla Diaz", "David Okafor", "Emma Larsen", "Farid Haddad",
             "Grace Kim", "Hugo Martin", "Ines Silva", "Jonas Weber", "Keiko Sato", "Liam Murphy"]  # fmt: skip
ZH_PEOPLE = ["王芳", "李强", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰", "吴刚", "徐丽", "孙浩"]
EN_CITIES = ["Berlin", "Toronto", "Singapore", "Madrid", "Sydney", "Nairobi", "Oslo", "Lisbon", "Seoul"]
ZH_CITIES = ["北京", "上海", "深圳", "杭州", "成都", "武汉", "西安", "南京", "广州"]
EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
ZH_DAYS = ["周一", "周二", "周三", "周四", "周五"]
DATABASES = ["PostgreSQL", "MySQL", "MongoDB", "Cassandra", "SQLite", "Redis", "ClickHouse"]
LANGUAGES = ["Python", "Go", "Rust", "Java", "Kotlin", "TypeScript", "C++", "Scala"]
TRACKERS = ["Jira", "GitLab", "Redmine", "YouTrack", "Linear", "Bugzilla"]
TIMES = ["9:00", "9:30", "10:00", "10:15", "11:00"]
SLAS = ["99.5%", "99.9%", "99.95%", "99.99%"]


@dataclass(frozen=True)
class Fact:
    """One kind of fact: how the handbook says it and how people ask for it, in each language.

    ``doc`` renders ``{e}`` (the team) and ``{v}`` (the value); its text up to the first ``|``
    is the key, the rest a distracting clause. ``ask`` holds a close and a paraphrased question.
    ``kb`` is the knowledge base of the two-KB split the fact belongs to.
    """

    name: str
    kb: str
    values: dict[str, list[Any]]
    doc: dict[str, str]
    ask: dict[str, tuple[str, str]]
    follow: dict[str, str]  # the question as a follow-up that refers to the team as "it"


FACTS = [
    Fact(
        "backups", "tech",
        {"en": [7, 14, 30, 45, 60, 90, 120, 180], "zh": [7, 14, 30, 45, 60, 90, 120, 180]},
        {"en": "{e} keeps production database backups for {v} days.| Backups of the test environment are deleted "
               "after one week, and restores are rehearsed every quarter.",
         "zh": "{e}团队的生产数据库备份保留{v}天。|测试环境的备份一周后删除，每个季度演练一次恢复。"},
        {"en": ("How long does {e} keep its database backups?",
                "For how many days does the {e} team retain copies of production data?"),
         "zh": ("{e}团队的数据库备份保留多久？", "{e}团队的生产数据副本要存放几天？")},
        {"en": "And how long are its backups kept?", "zh": "那它的备份保留多久？"},
    ),
    Fact(
        "oncall", "people",
        {"en": [1, 2, 3, 4], "zh": [1, 2, 3, 4]},
        {"en": "On-call duty in {e} rotates every {v} weeks.| Whoever is on call must acknowledge a page within "
               "fifteen minutes.",
         "zh": "{e}团队的值班每{v}周轮换一次。|值班人员必须在十五分钟内确认告警。"},
        {"en": ("How often does the on-call rotation of {e} change?",
                "After how many weeks does somebody else in {e} take over the pager?"),
         "zh": ("{e}团队的值班多久轮换一次？", "{e}团队隔几周换人接告警？")},
        {"en": "How often does its on-call rotate?", "zh": "它的值班多久轮换？"},
    ),
    Fact(
        "release", "tech",
        {"en": EN_DAYS, "zh": ZH_DAYS},
        {"en": "{e} ships new releases every {v}.| The change board must approve each release the day before.",
         "zh": "{e}团队在每{v}发布新版本。|每次发布都要在前一天经过变更委员会批准。"},
        {"en": ("On which day does {e} ship releases?", "What weekday does the {e} team push a new version out?"),
         "zh": ("{e}团队哪天发布新版本？", "{e}团队一般星期几上线？")},
        {"en": "On which day does it release?", "zh": "它哪天发布版本？"},
    ),
    Fact(
        "manager", "people",
        {"en": EN_PEOPLE, "zh": ZH_PEOPLE},
        {"en": "The engineering manager of {e} is {v}.| The manager also approves new hires and travel.",
         "zh": "{e}团队的技术经理是{v}。|经理还负责审批招聘和差旅。"},
        {"en": ("Who is the engineering manager of {e}?", "Who leads the people on the {e} team?"),
         "zh": ("{e}团队的技术经理是谁？", "谁在带{e}团队？")},
        {"en": "Who manages it?", "zh": "它的经理是谁？"},
    ),
    Fact(
        "city", "people",
        {"en": EN_CITIES, "zh": ZH_CITIES},
        {"en": "Most members of {e} work from the {v} office.| Visitors sign in at the front desk of that office.",
         "zh": "{e}团队的大多数成员在{v}办公室工作。|访客需要在前台登记。"},
        {"en": ("Which office does {e} work from?", "In what city is the {e} team based?"),
         "zh": ("{e}团队在哪个办公室工作？", "{e}团队的人主要在哪座城市？")},
        {"en": "Where does it work from?", "zh": "它在哪个城市办公？"},
    ),
    Fact(
        "budget", "people",
        {"en": [40, 75, 120, 200, 350, 500], "zh": [40, 75, 120, 200, 350, 500]},
        {"en": "{e} has an annual cloud budget of {v} thousand dollars.| Spending above that needs the finance "
               "director's sign-off.",
         "zh": "{e}团队每年的云服务预算是{v}万元。|超出预算需要财务总监签字。"},
        {"en": ("What is the annual cloud budget of {e}?", "How much money may {e} spend on hosting in a year?"),
         "zh": ("{e}团队每年的云服务预算是多少？", "{e}团队一年能花多少钱买服务器资源？")},
        {"en": "What is its yearly cloud budget?", "zh": "它一年的云预算是多少？"},
    ),
    Fact(
        "database", "tech",
        {"en": DATABASES, "zh": DATABASES},
        {"en": "{e} stores its data in {v}.| A read replica runs in a second region for disaster recovery.",
         "zh": "{e}团队的数据存放在{v}中。|灾备用的只读副本部署在另一个地域。"},
        {"en": ("Which database does {e} store its data in?", "What storage engine holds the records of {e}?"),
         "zh": ("{e}团队的数据存放在哪个数据库？", "{e}团队用什么存储引擎保存记录？")},
        {"en": "Which database does it use?", "zh": "它用哪个数据库？"},
    ),
    Fact(
        "review", "tech",
        {"en": [1, 2, 3], "zh": [1, 2, 3]},
        {"en": "Every change in {e} needs approvals from {v} reviewers before it is merged.| Urgent fixes may be "
               "reviewed after the merge.",
         "zh": "{e}团队的每个代码变更需要{v}名评审者批准才能合并。|紧急修复可以先合并后评审。"},
        {"en": ("How many reviewers must approve a change in {e}?",
                "How many people have to sign off on code before {e} merges it?"),
         "zh": ("{e}团队的代码变更需要几名评审者批准？", "{e}团队合并代码前要几个人同意？")},
        {"en": "How many reviewers does it require?", "zh": "它合并代码要几个人评审？"},
    ),
    Fact(
        "language", "tech",
        {"en": LANGUAGES, "zh": LANGUAGES},
        {"en": "{e} writes its services mainly in {v}.| Scripts and tooling may use any language.",
         "zh": "{e}团队的服务主要用{v}编写。|脚本和工具可以使用任何语言。"},
        {"en": ("Which programming language does {e} write its services in?",
                "What language is the backend code of {e} built with?"),
         "zh": ("{e}团队的服务用什么编程语言编写？", "{e}团队的后端代码是拿哪种语言写的？")},
        {"en": "Which language does it write services in?", "zh": "它的服务用什么语言写？"},
    ),
    Fact(
        "standup", "people",
        {"en": TIMES, "zh": TIMES},
        {"en": "The daily stand-up of {e} starts at {v}.| Anyone who cannot attend posts a written update.",
         "zh": "{e}团队的每日站会在{v}开始。|不能参加的人需要提交书面进展。"},
        {"en": ("When does the daily stand-up of {e} start?", "At what time does the {e} team meet every morning?"),
         "zh": ("{e}团队的每日站会几点开始？", "{e}团队每天早上几点碰头？")},
        {"en": "When does its stand-up start?", "zh": "它的站会几点开始？"},
    ),
    Fact(
        "tracker", "tech",
        {"en": TRACKERS, "zh": TRACKERS},
        {"en": "{e} tracks its bugs in {v}.| New bugs are triaged every morning by the on-call engineer.",
         "zh": "{e}团队用{v}跟踪缺陷。|新缺陷每天早上由值班工程师分拣。"},
        {"en": ("Where does {e} track its bugs?", "Which issue tracker does the {e} team file defects in?"),
         "zh": ("{e}团队在哪里跟踪缺陷？", "{e}团队的问题单记录在什么系统里？")},
        {"en": "Where does it track bugs?", "zh": "它用什么跟踪缺陷？"},
    ),
    Fact(
        "sla", "tech",
        {"en": SLAS, "zh": SLAS},
        {"en": "{e} promises {v} availability to its customers.| Planned maintenance windows do not count against "
               "it.",
         "zh": "{e}团队向客户承诺{v}的可用性。|计划内的维护窗口不计入其中。"},
        {"en": ("What availability does {e} promise its customers?", "What uptime guarantee does {e} offer?"),
         "zh": ("{e}团队承诺的可用性是多少？", "{e}团队保证服务多少时间在线？")},
        {"en": "What availability does it promise?", "zh": "它承诺多少可用性？"},
    ),
]  # fmt: skip

FILLER = {
    "en": "This handbook is maintained by the team itself; propose changes in the team channel.",
    "zh": "本手册由团队自行维护，修改建议请在团队群里提出。",
}


def team_name(lang: str, first: str, second: str) -> str:
    return f"{first} {second}" if lang == "en" else f"{first}{second}"


@dataclass
class Corpus:
    """Files (name -> text) per KB of the two-KB split and all together, and the questions."""

    files: dict[str, str] = field(default_factory=dict)  # every handbook, whole
    split: dict[str, dict[str, str]] = field(default_factory=dict)  # kb -> file -> text
    questions: list[dict[str, Any]] = field(default_factory=list)  # {q, key, lang, style, kb}
    follow_ups: list[dict[str, Any]] = field(default_factory=list)  # {history, q, standalone, key, lang}
    two_kb: list[dict[str, Any]] = field(default_factory=list)  # {q, keys: [people key, tech key], lang}


def build_corpus(
    *, teams_per_language: int = 140, questions_per_language: int = 200, seed: int = 16
) -> Corpus:
    """The corpus and its questions; the same arguments give the same result everywhere."""
    rng = random.Random(seed)
    corpus = Corpus(split={"people": {}, "tech": {}})
    for lang, firsts, seconds in (("en", EN_FIRST, EN_SECOND), ("zh", ZH_FIRST, ZH_SECOND)):
        names = [team_name(lang, f, s) for f in firsts for s in seconds]
        rng.shuffle(names)
        facts_of: dict[str, dict[str, str]] = {}
        for number, team in enumerate(names[:teams_per_language]):
            keys, paragraphs = {}, {}
            for fact in FACTS:
                text = fact.doc[lang].format(e=team, v=rng.choice(fact.values[lang]))
                keys[fact.name] = text.split("|")[0]
                paragraphs[fact.name] = text.replace("|", "")
            order = list(FACTS)
            rng.shuffle(order)
            title = f"# {team}" if lang == "en" else f"# {team}团队手册"
            file_name = f"{lang}-{number:03d}.md"
            body = [title, *(paragraphs[f.name] for f in order), FILLER[lang]]
            corpus.files[file_name] = "\n\n".join(body) + "\n"
            for kb in ("people", "tech"):
                part = [title, *(paragraphs[f.name] for f in order if f.kb == kb)]
                corpus.split[kb][file_name] = "\n\n".join(part) + "\n"
            facts_of[team] = keys
        teams = list(facts_of)
        for n in range(questions_per_language):
            team, fact, style = rng.choice(teams), rng.choice(FACTS), n % 2
            corpus.questions.append(
                {
                    "q": fact.ask[lang][style].format(e=team),
                    "key": facts_of[team][fact.name],
                    "lang": lang,
                    "style": ("close", "paraphrase")[style],
                    "kb": fact.kb,
                }
            )
        for _ in range(questions_per_language // 4):
            team = rng.choice(teams)
            first, second = rng.sample(FACTS, 2)
            corpus.follow_ups.append(
                {
                    "history": [
                        {"role": "user", "content": first.ask[lang][0].format(e=team)},
                        {"role": "assistant", "content": facts_of[team][first.name]},
                    ],
                    "q": second.follow[lang],
                    "standalone": second.ask[lang][0].format(e=team),
                    "key": facts_of[team][second.name],
                    "lang": lang,
                }
            )
        people = [f for f in FACTS if f.kb == "people"]
        tech = [f for f in FACTS if f.kb == "tech"]
        for _ in range(questions_per_language // 8):
            team, p, t = rng.choice(teams), rng.choice(people), rng.choice(tech)
            joiner = " Also: " if lang == "en" else "另外，"
            corpus.two_kb.append(
                {
                    "q": p.ask[lang][0].format(e=team) + joiner + t.ask[lang][0].format(e=team),
                    "keys": [facts_of[team][p.name], facts_of[team][t.name]],
                    "lang": lang,
                }
            )
    return corpus

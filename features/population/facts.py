"""Real figures the synthetic population is calibrated to, each with its source.

Values come from ``shared/data/flanders-facts.md`` (copied here, since users have no ``shared/``).
Where that sheet has no figure, the generator uses an ``Assumption``: stated plainly, never
presented as a real figure, and listed as such in the data sheet.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """A sourced real figure (a rate or share in [0, 1], or a count)."""

    value: float
    year: str
    source: str


@dataclass(frozen=True)
class Assumption:
    """A modelling choice with no sourced figure behind it."""

    value: float
    why: str


_SV_EMPLOYMENT_2023 = 'Statistiek Vlaanderen, "Employment rate / Werkzaamheidsgraad" (2023)'
_SV_EMPLOYMENT_2020 = 'Statistiek Vlaanderen, "Employment rate" (2020 age bands)'
_SAMENLEVING = 'Flemish Government "Samenlevingsbarometer" via Brussels Times (2023)'
_SV_EDUCATION = 'Statistiek Vlaanderen, "Population by educational attainment level" (2023)'
_SV_JOBSEEKERS = 'Statistiek Vlaanderen, "VDAB-werkzoekenden" (2021)'
_VDAB_TAAL = 'VDAB Ontcijfert nr. 39 "Taal centraal?!" (2018 vacancies)'

# --- population by province (total population; working-age share from Census 2021) --------------
PROVINCE_POPULATION = {
    "Antwerpen": Fact(1_926_522, "2024", "Statbel via RTL (2024-06-04)"),
    "Oost-Vlaanderen": Fact(1_572_002, "2024", "citypopulation.de (Statbel)"),
    "West-Vlaanderen": Fact(1_226_375, "2024", "Wikipedia 'West Flanders' (Statbel)"),
    "Vlaams-Brabant": Fact(1_196_773, "2024", "Wikipedia 'Flemish Brabant' (Statbel)"),
    "Limburg": Fact(904_919, "2025", "citypopulation.de (Statistics Belgium)"),
    "Brussel": Fact(1_249_597, "2024", "Statbel via RTL (2024-06-04)"),
}
PROVINCE_WORKING_AGE_SHARE = {
    "Antwerpen": 0.634, "Oost-Vlaanderen": 0.638, "West-Vlaanderen": 0.613,
    "Vlaams-Brabant": 0.634, "Limburg": 0.636, "Brussel": 0.677,
}
WORKING_AGE_SHARE_SOURCE = "Statbel Census 2021, share aged 15-64"

# --- employment rate, 20-64 ---------------------------------------------------------------------
EMPLOYMENT_TOTAL = Fact(0.768, "2023", _SV_EMPLOYMENT_2023)
EMPLOYMENT_BY_GENDER = {
    "man": Fact(0.803, "2023", _SV_EMPLOYMENT_2023),
    "woman": Fact(0.733, "2023", _SV_EMPLOYMENT_2023),
}
EMPLOYMENT_BY_AGE_BAND = {  # the published bands are 20-34 / 35-44 / 45-54 / 55-64
    "20-34": Fact(0.730, "2020", _SV_EMPLOYMENT_2020),
    "35-44": Fact(0.872, "2020", _SV_EMPLOYMENT_2020),
    "45-54": Fact(0.847, "2020", _SV_EMPLOYMENT_2020),
    "55-64": Fact(0.608, "2023", _SV_EMPLOYMENT_2023),
}
EMPLOYMENT_BY_EDUCATION = {
    "low": Fact(0.526, "2023", _SV_EMPLOYMENT_2023),
    "medium": Fact(0.780, "2023", _SV_EMPLOYMENT_2023),
    "high": Fact(0.908, "2023", _SV_EMPLOYMENT_2023),
}
EMPLOYMENT_BY_DISABILITY = {
    True: Fact(0.473, "2023", _SV_EMPLOYMENT_2023),
    False: Fact(0.819, "2023", _SV_EMPLOYMENT_2023),
}
EMPLOYMENT_BY_ORIGIN = {
    "belgian": Fact(0.797, "2023", _SAMENLEVING),
    "eu": Fact(0.638, "2023", _SAMENLEVING),
    "non_eu": Fact(0.580, "2023", _SAMENLEVING),
}
DISABILITY_SHARE = Fact(0.136, "2023", "Steunpunt Werk, share of 15-64 hindered by a disability or long-term illness")

# --- education, 25-64 ---------------------------------------------------------------------------
EDUCATION_SHARE = {
    "low": Fact(0.158, "2023", _SV_EDUCATION),
    "medium": Fact(0.389, "2023", _SV_EDUCATION),
    "high": Fact(0.454, "2023", _SV_EDUCATION),
}
HIGH_EDUCATED_BY_GENDER = {
    "woman": Fact(0.500, "2023", _SV_EDUCATION),
    "man": Fact(0.408, "2023", _SV_EDUCATION),
}
LOW_EDUCATED_BY_AGE_BAND = {
    "25-34": Fact(0.117, "2023", _SV_EDUCATION),
    "55-64": Fact(0.236, "2023", _SV_EDUCATION),
}

# --- registered job seekers without work (VDAB) -------------------------------------------------
JOBSEEKER_RATE = Fact(0.065, "Nov 2023", "VDAB monthly report via Peoplesphere (werkzoekendengraad)")
JOBSEEKER_AGE = {
    "<25": Fact(0.15, "2021", _SV_JOBSEEKERS),
    "25-59": Fact(0.72, "2021", _SV_JOBSEEKERS),
    "60+": Fact(0.13, "2021", _SV_JOBSEEKERS),
}
JOBSEEKER_EDUCATION = {
    "low": Fact(0.44, "2021", _SV_JOBSEEKERS),
    "medium": Fact(0.36, "2021", _SV_JOBSEEKERS),
    "high": Fact(0.20, "2021", _SV_JOBSEEKERS),
}
JOBSEEKER_GENDER = {
    "man": Fact(0.52, "2022", "Statistiek Vlaanderen; VRT NWS 6 Jan 2023"),
    "woman": Fact(0.48, "2022", "Statistiek Vlaanderen; VRT NWS 6 Jan 2023"),
}
JOBSEEKER_DURATION = {  # published shares add up to 101%
    "<1y": Fact(0.45, "2021", _SV_JOBSEEKERS),
    "1-2y": Fact(0.20, "2021", _SV_JOBSEEKERS),
    ">2y": Fact(0.36, "2021", _SV_JOBSEEKERS),
}
JOBSEEKER_LITTLE_DUTCH = Fact(0.21, "Jul 2022", "Minister's answer cited by R. Bothuyne (NWWZ with little or no Dutch)")

# --- vacancies ----------------------------------------------------------------------------------
OPEN_VACANCIES = Fact(141_000, "Feb 2023", 'VRT NWS (9 Feb 2023)')
WORKING_AGE_POPULATION = Fact(4_057_347 + 822_004, "2025", "Statbel be.STAT, aged 18-64, Flemish + Brussels Region")
VACANCY_EDUCATION = {
    "low": Fact(159_440 / 382_884, "2022", "Nieuwsblad (Jan 2023, VDAB)"),
    "medium": Fact(74_893 / 382_884, "2022", "Nieuwsblad (Jan 2023, VDAB)"),
    "high": Fact(148_551 / 382_884, "2022", "Nieuwsblad (Jan 2023, VDAB)"),
}
VACANCY_PROVINCE = {
    "Antwerpen": Fact(0.29, "2022-2023", "Trends (Jan 2024); Nieuwsblad (May 2023)"),
    "Limburg": Fact(0.11, "2022-2023", "Trends (Jan 2024); Nieuwsblad (May 2023)"),
}
VACANCY_DUTCH_REQUIRED = Fact(0.90, "2018", _VDAB_TAAL)
VACANCY_DUTCH_VERY_GOOD = Fact(0.58 / (0.38 + 0.58), "2018", _VDAB_TAAL + " (very good among those asking good or very good)")

# --- occupational gender segregation (share of women), by ISCO-08 code prefix --------------------
_LFS_2018 = "Statbel LFS via Nieuwsblad (Apr 2019)"
FEMALE_SHARE_BY_ISCO = {
    "2221": Fact(0.85, "2018", "gezondbelgie.be 'Verpleegkundigen'"),
    "3221": Fact(0.85, "2018", "gezondbelgie.be 'Verpleegkundigen'"),
    "2222": Fact(0.99, "2018", _LFS_2018 + " (midwives > 99%)"),
    "3222": Fact(0.99, "2018", _LFS_2018 + " (midwives > 99%)"),
    "7411": Fact(0.01, "2018", _LFS_2018 + " (electrical installers: men > 99%)"),
    "7412": Fact(0.01, "2018", _LFS_2018 + " (electrical installers: men > 99%)"),
    "8332": Fact(908 / (908 + 62_788), "2018", _LFS_2018 + " (truck drivers)"),
    "91": Fact(0.95, "2018", _LFS_2018 + " (cleaning > 95%)"),
    "5311": Fact(0.95, "2018", _LFS_2018 + " (care > 95%)"),
    "5322": Fact(0.95, "2018", _LFS_2018 + " (home care > 95%)"),
    "2342": Fact(0.95, "2018", _LFS_2018 + " (pre-school teaching > 95%)"),
    "71": Fact(0.012, "2022", "Embuild via NAV (construction blue-collar)"),
    "25": Fact(0.141, "2016", "Eurostat via Datanews (ICT specialists)"),
    "35": Fact(0.141, "2016", "Eurostat via Datanews (ICT specialists)"),
    "4": Fact(128_302 / (128_302 + 52_795), "2018", _LFS_2018 + " (administrative staff)"),
}
FEMALE_SHARE_BY_ISCO_MAJOR = {  # assumption for every occupation the facts above do not cover
    "0": Assumption(0.10, "armed forces"), "1": Assumption(0.35, "managers"),
    "2": Assumption(0.55, "professionals"), "3": Assumption(0.45, "technicians"),
    "5": Assumption(0.65, "service and sales"), "6": Assumption(0.25, "agriculture"),
    "7": Assumption(0.08, "craft trades"), "8": Assumption(0.15, "machine operators"),
    "9": Assumption(0.50, "elementary occupations"),
}

# --- assumptions with no sourced figure ---------------------------------------------------------
EMPLOYMENT_SHARE_BY_ISCO_MAJOR = {  # share of jobs per ISCO major group (no Flemish figure in the sheet)
    "0": Assumption(0.01, "LFS-like"), "1": Assumption(0.08, "LFS-like"), "2": Assumption(0.24, "LFS-like"),
    "3": Assumption(0.16, "LFS-like"), "4": Assumption(0.11, "LFS-like"), "5": Assumption(0.14, "LFS-like"),
    "6": Assumption(0.01, "LFS-like"), "7": Assumption(0.09, "LFS-like"), "8": Assumption(0.07, "LFS-like"),
    "9": Assumption(0.09, "LFS-like"),
}
ORIGIN_SHARE_FLANDERS = {
    "belgian": Assumption(0.82, "no sourced population share by origin in the sheet"),
    "eu": Assumption(0.07, "idem"), "non_eu": Assumption(0.11, "idem"),
}
ORIGIN_SHARE_BRUSSELS = {
    "belgian": Assumption(0.45, "no sourced share; Brussels is more diverse"),
    "eu": Assumption(0.22, "idem"), "non_eu": Assumption(0.33, "idem"),
}
DRIVING_LICENCE = Assumption(0.82, "adults with a car licence; lower for the young, Brussels and newcomers")
CARE_DUTIES = Assumption(0.25, "care for young children or a relative; higher for women aged 25-44")
PART_TIME_PREFERENCE = Assumption(0.22, "prefers part-time work; higher with care duties")
NEVER_WORKED_INACTIVE = Assumption(0.25, "inactive citizens who never held a job")
BOTTLENECK_ISCO = (  # 'typical bottleneck occupations' named by VDAB (2023-2024), mapped to ISCO-08
    "3113", "7233", "7412", "2221", "3221", "9111", "3123", "8332", "2511", "2512", "2514",
    "2411", "3313", "9211", "2330", "2341", "2342",
)
BOTTLENECK_SOURCE = "VDAB extranet 'Krapte blijft groot' (Jan 2024); Nieuwsblad (Feb 2020)"

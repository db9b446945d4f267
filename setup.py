"""Packaging for dual-ifm. Every setting is read from settings.ini (nbdev's single source of truth)."""
from configparser import ConfigParser
from pathlib import Path
import shlex

import setuptools

here = Path(__file__).parent
parser = ConfigParser(delimiters=['='])
parser.read(here / 'settings.ini', encoding='utf-8')
cfg = parser['DEFAULT']

required = 'version description keywords author author_email lib_name lib_path user branch license status min_python audience language'.split()
missing = [k for k in required if k not in cfg]
if missing: raise SystemExit(f"settings.ini is missing the setting(s) {', '.join(missing)}; add them under [DEFAULT].")

licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT', 'bsd3': 'BSD-3-Clause', 'gpl3': 'GPL-3.0-only'}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
spdx = licenses.get(cfg['license'].lower(), cfg['license'])
py_versions = ['3.10', '3.11', '3.12', '3.13']
min_py = tuple(int(x) for x in cfg['min_python'].split('.'))

classifiers = [f"Development Status :: {statuses[int(cfg['status']) - 1]}",
               f"Intended Audience :: {cfg['audience']}",
               f"Natural Language :: {cfg['language']}",
               'Topic :: Scientific/Engineering :: Medical Science Apps.',
               'Topic :: Scientific/Engineering :: Artificial Intelligence']
classifiers += [f'Programming Language :: Python :: {v}' for v in py_versions if tuple(int(x) for x in v.split('.')) >= min_py]

readme = here / 'README.md'
setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=spdx,
    license_files=['LICENSE'],
    classifiers=classifiers,
    url=cfg.get('git_url', ''),
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    include_package_data=True,
    install_requires=shlex.split(cfg.get('requirements', '')),
    extras_require={'dev': shlex.split(cfg.get('dev_requirements', '')), 'cpu': shlex.split(cfg.get('cpu_requirements', ''))},
    python_requires='>=' + cfg['min_python'],
    long_description=readme.read_text(encoding='utf-8') if readme.exists() else cfg['description'],
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)

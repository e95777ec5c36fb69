"""Lightning's demos beyond BoringModel: the transformer and LSTM language models, WikiText-2, MNIST and the
extra boring classes build the same models (same seeded weights, same outputs) and read the same data as
Lightning's. Nothing is downloaded: the data files are written by the tests, and the offline path is simulated."""
from __future__ import annotations

import os
import urllib.error
import warnings

import pytest
import torch

from fastlit.demos import lstm as our_lstm
from fastlit.demos import mnist_datamodule as our_mnist
from fastlit.demos import transformer as our_tf

TEXT = "the cat sat on the mat\n\n a dog sat on the log \n" * 20


@pytest.fixture
def text_dir(tmp_path):
    (tmp_path / "wikitext-2.txt").write_text(TEXT, encoding="utf8")
    return tmp_path


def _seeded(factory):
    torch.manual_seed(0)
    return factory()


def test_transformer_matches_lightnings(lightning):
    from pytorch_lightning.demos import transformer as their_tf

    kwargs = dict(vocab_size=50, ninp=8, nhead=2, nhid=16, nlayers=1, dropout=0.0)
    ours, theirs = _seeded(lambda: our_tf.Transformer(**kwargs)), _seeded(lambda: their_tf.Transformer(**kwargs))
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for k, v in ours.state_dict().items():
        torch.testing.assert_close(v, theirs.state_dict()[k], msg=k)
    x, y = torch.randint(0, 50, (3, 7)), torch.randint(0, 50, (3, 7))
    out = ours(x, y)
    assert out.shape == (21, 50)
    torch.testing.assert_close(out, theirs(x, y))
    mask = ours.generate_square_subsequent_mask(4)
    assert torch.equal(mask, theirs.generate_square_subsequent_mask(4)) and mask[0, 1] == float("-inf")


def test_lightning_transformer_loss_matches_lightnings(lightning):
    from pytorch_lightning.demos import transformer as their_tf

    ours = _seeded(lambda: our_tf.LightningTransformer(vocab_size=30))
    theirs = _seeded(lambda: their_tf.LightningTransformer(vocab_size=30))
    ours.eval(), theirs.eval()  # dropout off: the losses must agree exactly
    batch = (torch.randint(0, 30, (2, 5)), torch.randint(0, 30, (2, 5)))
    torch.testing.assert_close(ours.training_step(batch, 0), theirs.training_step(batch, 0))
    assert type(ours.configure_optimizers()) is torch.optim.SGD


def test_lstm_matches_lightnings(lightning):
    from pytorch_lightning.demos import lstm as their_lstm

    kwargs = dict(vocab_size=40, ninp=6, nhid=5, nlayers=2, dropout=0.0)
    ours, theirs = _seeded(lambda: our_lstm.SimpleLSTM(**kwargs)), _seeded(lambda: their_lstm.SimpleLSTM(**kwargs))
    x = torch.randint(0, 40, (3, 4))
    (a, (h1, c1)), (b, (h2, c2)) = ours(x, ours.init_hidden(3)), theirs(x, theirs.init_hidden(3))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(h1, h2) and torch.testing.assert_close(c1, c2)
    data = list(range(23))
    assert list(our_lstm.SequenceSampler(data, 5)) == list(their_lstm.SequenceSampler(data, 5))
    assert len(our_lstm.SequenceSampler(data, 5)) == 4


def test_wikitext2_reads_like_lightnings(lightning, text_dir):
    from pytorch_lightning.demos import transformer as their_tf

    ours = our_tf.WikiText2(data_dir=text_dir, block_size=6, download=False)
    theirs = their_tf.WikiText2(data_dir=text_dir, block_size=6, download=False)
    assert torch.equal(ours.data, theirs.data) and ours.data.dtype == torch.int64
    assert ours.vocab_size == theirs.vocab_size == 9  # 8 words and <eos>
    assert ours.dictionary.idx2word == theirs.dictionary.idx2word
    assert len(ours) == len(theirs) > 0
    for i in (0, len(ours) - 1):
        for a, b in zip(ours[i], theirs[i]):
            assert torch.equal(a, b)


def test_wikitext2_offline_fails_clearly_and_leaves_no_file(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(our_tf.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="Could not download WikiText-2") as info:
        our_tf.WikiText2(data_dir=tmp_path / "data")
    assert str(tmp_path / "data" / "wikitext-2.txt") in str(info.value)
    assert not any((tmp_path / "data").iterdir())  # nothing half-written for the next run to trust
    with pytest.raises(FileNotFoundError, match="download=True"):
        our_tf.WikiText2(data_dir=tmp_path / "data", download=False)


def test_wikitext2_download_writes_the_file_once(tmp_path, monkeypatch):
    calls = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return TEXT.encode()

    def fake_urlopen(url, timeout):
        calls.append(url)
        return Response()

    monkeypatch.setattr(our_tf.urllib.request, "urlopen", fake_urlopen)
    our_tf.WikiText2(data_dir=tmp_path)
    our_tf.WikiText2(data_dir=tmp_path)
    assert calls == [our_tf.WIKITEXT2_URL]  # Lightning's URL, fetched only while the file is missing
    assert (tmp_path / "wikitext-2.txt").read_text() == TEXT


def _fake_mnist(root, n_train=30, n_test=10):
    folder = os.path.join(root, "MNIST", "complete")
    os.makedirs(folder)
    g = torch.Generator().manual_seed(0)
    for name, n in (("training.pt", n_train), ("test.pt", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
        torch.save((images, torch.randint(0, 10, (n,), generator=g)), os.path.join(folder, name))


def test_hosted_mnist_reads_like_lightnings(lightning, tmp_path):
    from pytorch_lightning.demos import mnist_datamodule as their_mnist

    _fake_mnist(tmp_path)
    ours = our_mnist._MNIST(str(tmp_path), train=True, download=False)
    theirs = their_mnist._MNIST(str(tmp_path), train=True, download=False)
    assert len(ours) == len(theirs) == 30
    (a, la), (b, lb) = ours[3], theirs[3]
    assert la == lb and a.shape == (1, 28, 28)
    torch.testing.assert_close(a, b)
    with pytest.raises(RuntimeError, match="Dataset not found"):
        our_mnist._MNIST(str(tmp_path / "empty"), download=False)


def test_mnist_datamodule_splits_like_lightnings(lightning, tmp_path, monkeypatch):
    from pytorch_lightning.demos import mnist_datamodule as their_mnist

    _fake_mnist(tmp_path)
    monkeypatch.setenv("PL_USE_MOCKED_MNIST", "1")  # the hosted-file path, as without torchvision
    splits = []
    for module in (our_mnist, their_mnist):
        dm = module.MNISTDataModule(data_dir=str(tmp_path), val_split=5, num_workers=0, batch_size=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dm.setup("fit")
            splits.append((list(dm.dataset_train.indices), list(dm.dataset_val.indices), len(dm.test_dataloader())))
    assert splits[0] == splits[1] and len(splits[0][1]) == 5 and splits[0][2] == 2  # 10 test images, drop_last


def test_mnist_offline_fails_clearly(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(our_mnist.urllib.request, "urlretrieve", offline)
    monkeypatch.setenv("PL_USE_MOCKED_MNIST", "1")
    with pytest.raises(RuntimeError, match="Could not download MNIST"):
        our_mnist.MNIST(str(tmp_path), train=True, download=True)


def test_extra_boring_classes_match_lightnings(lightning):
    from pytorch_lightning.demos import boring_classes as theirs

    from fastlit.demos import boring_classes as ours

    net_a, net_b = _seeded(ours.Net), _seeded(theirs.Net)
    net_a.eval(), net_b.eval()
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(net_a(x), net_b(x))
    for stage, attr, n in (("fit", "val_datasets", 32), ("test", "test_datasets", 64)):
        torch.manual_seed(1)
        dm_a = ours.IterableBoringDataModule()
        dm_a.setup(stage)
        torch.manual_seed(1)
        dm_b = theirs.IterableBoringDataModule()
        dm_b.setup(stage)
        torch.testing.assert_close(getattr(dm_a, attr)[0].data, getattr(dm_b, attr)[0].data)
        assert len(getattr(dm_a, attr)[0]) == n
    assert [len(dl) for dl in dm_a.test_dataloader()[:1]] == [64]

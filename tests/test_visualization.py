import numpy as np
from PIL import Image

from gan_zoo import visualization


def test_grid_layout_and_pixel_values():
    images = np.zeros((5, 4, 3, 1), np.float32)
    images[2] = 1.0
    grid = visualization.image_grid(images, cols=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 4 + 1, 1) and grid.dtype == np.uint8
    # Third image (row 0, col 2) is white, the padding around it black.
    assert (grid[1:5, 9:12] == 255).all()
    assert grid[0].max() == 0 and grid[:, 8].max() == 0
    assert grid.sum() == 255 * 4 * 3


def test_grid_clips_out_of_range_values():
    grid = visualization.image_grid(np.full((1, 2, 2, 3), 7.0), pad=0)
    assert (grid == 255).all()


def test_gif_keeps_last_frame_and_caps_frame_count(tmp_path):
    paths = []
    for i in range(12):
        picture = np.full((4, 4, 1), i * 20, np.uint8)
        paths.append(visualization.save_png(picture, str(tmp_path / f"f{i:02d}.png")))
    gif = Image.open(visualization.save_gif(paths, str(tmp_path / "a.gif"), max_frames=5))
    assert gif.n_frames == 5
    gif.seek(4)
    assert np.asarray(gif.convert("L"))[0, 0] == 220


def test_density_grid_puts_the_density_on_the_axes_in_parts():
    calls = []

    def log_density(points):  # N(0, I) in 2-D
        calls.append(len(points))
        return -0.5 * np.sum(points**2, axis=1) - np.log(2 * np.pi)

    density = visualization.density_grid(log_density, extent=3.0, size=50)
    assert density.shape == (50, 50) and calls == [1000, 1000, 500]
    ticks = np.linspace(-3.0, 3.0, 50)
    # Rows run along y (imshow's origin="lower"), columns along x.
    np.testing.assert_allclose(
        density[10, 40], np.exp(-0.5 * (ticks[40] ** 2 + ticks[10] ** 2)) / (2 * np.pi), rtol=1e-5
    )
    step = ticks[1] - ticks[0]
    assert abs(density.sum() * step * step - 1.0) < 0.02
    picture = visualization.latent_scatter(np.zeros((4, 2)), np.arange(4), density, extent=3.0)
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.dtype == np.uint8

// Debian's libdeflate-dev: the DEFLATE decoder GDAL itself uses for GeoTIFF tiles.
#include <libdeflate.h>

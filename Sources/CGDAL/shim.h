// Debian's libgdal-dev installs headers under /usr/include/gdal.
#include <gdal/gdal.h>
#include <gdal/gdal_alg.h>
#include <gdal/gdalwarper.h>
#include <gdal/gdal_utils.h>
#include <gdal/ogr_srs_api.h>
#include <gdal/ogr_api.h>
#include <gdal/cpl_conv.h>
#include <gdal/cpl_vsi.h>
#include <gdal/cpl_error.h>
#include <gdal/cpl_string.h>

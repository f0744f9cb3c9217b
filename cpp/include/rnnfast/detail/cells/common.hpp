// Everything a cell's passes build on (each piece documents itself).
#pragma once

#include "rnnfast/detail/cells/common/lanes.hpp"
#include "rnnfast/detail/cells/common/packed_gates.hpp"
#include "rnnfast/detail/cells/common/products.hpp"
#include "rnnfast/detail/cells/common/step_views.hpp"

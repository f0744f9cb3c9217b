// rnnfast: recurrent networks on the CPU. Umbrella header of the C++ core.
#pragma once

#include "rnnfast/gemm.hpp"
#include "rnnfast/model.hpp"
#include "rnnfast/model_file.hpp"
#include "rnnfast/optimizers.hpp"
#include "rnnfast/recurrent.hpp"
#include "rnnfast/sequence.hpp"
#include "rnnfast/stacked_step.hpp"
#include "rnnfast/stream.hpp"

import { render, screen, within } from '@testing-library/svelte';
import GpuList from './GpuList.svelte';

const GIB = 1024 ** 3;

describe('GpuList', () => {
	it('shows each GPU with VRAM and the facts present', () => {
		render(GpuList, {
			gpus: [
				{
					index: 0,
					vendor: 'nvidia',
					name: 'NVIDIA H100 80GB HBM3',
					memoryTotalBytes: 80 * GIB,
					architecture: 'Hopper',
					computeCapability: '9.0',
					computeApi: 'CUDA 12.4',
					driverVersion: '550.54.15'
				},
				{
					index: 1,
					vendor: 'apple',
					name: 'Apple M2 Ultra',
					memoryTotalBytes: 192 * GIB,
					unifiedMemory: true
				}
			]
		});
		const [h100, m2] = screen.getAllByTestId('gpu-card');
		expect(within(h100).getByText('NVIDIA H100 80GB HBM3')).toBeInTheDocument();
		expect(within(h100).getByText('80 GiB')).toBeInTheDocument();
		expect(within(h100).getByText('Hopper · 9.0')).toBeInTheDocument();
		expect(within(h100).getByText('CUDA 12.4')).toBeInTheDocument();
		expect(within(m2).getByText('Unified memory')).toBeInTheDocument();
		expect(within(m2).queryByText('Driver')).toBeNull();
	});

	it('shows utilization, temperature and power when the API sends them', () => {
		render(GpuList, {
			gpus: [
				{
					index: 0,
					vendor: 'amd',
					name: 'AMD Instinct MI300X',
					memoryTotalBytes: 192 * GIB,
					memoryUsedBytes: 64 * GIB,
					utilizationPercent: 87,
					temperatureC: 71,
					powerW: 650
				}
			]
		});
		const card = screen.getByTestId('gpu-card');
		expect(card).toHaveTextContent('64 GiB / 192 GiB');
		expect(card).toHaveTextContent('87%');
		expect(card).toHaveTextContent('71 °C');
		expect(card).toHaveTextContent('650 W');
	});

	it('says the node runs on the CPU when it has no GPU', () => {
		render(GpuList, { gpus: [] });
		expect(screen.getByTestId('no-gpus')).toHaveTextContent('No GPU detected');
	});
});
